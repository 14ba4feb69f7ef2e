package memory_test

import (
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/orders/orderstest"
)

func TestOrdersStore(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			orderstest.Run(t, st.Store.Orders(), func(id int64, created time.Time) {
				if err := memory.ForgetOrderGenesis(st.Store, id, created); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
