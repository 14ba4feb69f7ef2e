package orders_test

import (
	"testing"

	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/orders/orderstest"
)

func TestMemStore(t *testing.T) { orderstest.Run(t, orders.NewMemStore()) }
