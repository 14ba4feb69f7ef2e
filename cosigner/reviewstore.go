package cosigner

import (
	"context"

	"github.com/mandatehq/mandate/memory"
)

// ReviewStore keeps reviews in the database: memory's review records as a
// Store. The adapter lives here because the co-signer sits below memory in
// the layers; memory knows nothing of the co-signer.
func ReviewStore(r *memory.Reviews) Store { return reviewStore{r} }

type reviewStore struct{ r *memory.Reviews }

func (s reviewStore) Get(ctx context.Context, chain, safeTxHash string) (Decision, bool, error) {
	rv, ok, err := s.r.Get(ctx, chain, safeTxHash)
	return Decision(rv), ok, err
}

func (s reviewStore) Put(ctx context.Context, d Decision) error {
	return s.r.Put(ctx, memory.Review(d))
}

// Atomically implements Atomic: the review and the ledger's charge of its
// approval commit in one transaction of the database.
func (s reviewStore) Atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.r.Atomically(ctx, fn)
}
