package orders_test

import (
	"testing"
	"time"

	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/orders/orderstest"
)

func TestMemStore(t *testing.T) {
	s := orders.NewMemStore()
	orderstest.Run(t, s, func(id int64, created time.Time) { orders.ForgetGenesis(s, id, created) })
}
