package memory_test

import (
	"testing"

	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/cosigner/cosignertest"
	"github.com/mandatehq/mandate/memory/memtest"
)

func TestReviewsStore(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) { cosignertest.RunStore(t, cosigner.ReviewStore(st.Store.Reviews())) })
	}
}
