package memory_test

import (
	"testing"

	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/orders/orderstest"
)

func TestOrdersStore(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) { orderstest.Run(t, st.Store.Orders()) })
	}
}
