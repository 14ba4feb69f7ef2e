package llm

import (
	"context"
	"fmt"
	"strings"
	"time"
)

var _ Embedder = (*Router)(nil)

// CreateEmbedding returns one vector per text from the first usable backend
// whose model is an Embedder with an EmbeddingModel, failing over in order
// on the same errors as GenerateContent (429, 402, 408, 5xx, 404, timeouts,
// broken connections, malformed answers); the request's own faults (other
// 4xx) and the caller's cancellation are returned as they are. Every vector
// of one call comes from one backend. It satisfies langchaingo's
// embeddings.EmbedderClient.
//
// After a failover the vectors may come from another model than
// EmbeddingModel named before the call; use EmbedWithModel to learn which.
func (r *Router) CreateEmbedding(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := r.EmbedWithModel(ctx, texts)
	return vecs, err
}

// EmbeddingModel names the model that would answer CreateEmbedding now, as
// "backendName/model", or "" when no backend offers embeddings. Store it
// with the vectors, so that vectors of different models are never compared.
func (r *Router) EmbeddingModel() string {
	cands := r.embedCandidates(r.cfg.now())
	if len(cands) == 0 {
		return ""
	}
	return embedTag(cands[0])
}

// EmbedWithModel is CreateEmbedding that also returns the name of the model
// that answered, in the form EmbeddingModel gives ("backendName/model").
//
// Errors: ErrNoEmbeddings (wrapped) when no backend has an embedding model,
// ErrNoBackend (wrapped) when all that have one are misconfigured,
// *FailoverError when every attempt failed, a fatal attempt's own error,
// and the caller's cancellation.
func (r *Router) EmbedWithModel(ctx context.Context, texts []string) ([][]float32, string, error) {
	cands := r.embedCandidates(r.cfg.now())
	if len(cands) == 0 {
		return nil, "", r.noEmbedder()
	}
	var failed []error
	for _, b := range cands {
		vecs, cause, err := r.embedAttempt(ctx, b, texts)
		if err == nil {
			b.st.recovered()
			return vecs, embedTag(b), nil
		}
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("llm router: %w", context.Cause(ctx))
		}
		if r.recordFailure(b, err, cause) == failFatal {
			return nil, "", err
		}
		failed = append(failed, fmt.Errorf("%s: %w", b.Name, err))
	}
	return nil, "", &FailoverError{Errs: failed}
}

// embedAttempt runs CreateEmbedding on one backend under the attempt
// timeout, scaled by the number of batches the Client will send. cause is
// the attempt context's cancellation cause.
func (r *Router) embedAttempt(ctx context.Context, b *routed, texts []string) (vecs [][]float32, cause, err error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if d := r.cfg.attemptTimeout; d > 0 {
		batches := max(1, (len(texts)+MaxEmbeddingInputs-1)/MaxEmbeddingInputs)
		t := time.AfterFunc(time.Duration(batches)*d, func() { cancel(errAttemptTimeout) })
		defer t.Stop()
	}
	b.st.begin()
	vecs, err = b.Model.(Embedder).CreateEmbedding(actx, texts)
	if err == nil && len(vecs) != len(texts) {
		err = fmt.Errorf("llm backend %s: %w: %d embeddings for %d inputs", b.Name, ErrMalformedResponse, len(vecs), len(texts))
	}
	if err != nil && actx.Err() != nil {
		cause = context.Cause(actx)
	}
	return vecs, cause, err
}

// embedCandidates is candidates restricted to backends that embed: their
// Model is an Embedder with a non-empty EmbeddingModel.
func (r *Router) embedCandidates(now time.Time) []*routed {
	cands, _ := r.candidates(false, now)
	out := cands[:0:0]
	for _, b := range cands {
		if embeds(b) {
			out = append(out, b)
		}
	}
	return out
}

func embeds(b *routed) bool {
	e, ok := b.Model.(Embedder)
	return ok && e.EmbeddingModel() != ""
}

func embedTag(b *routed) string {
	return b.Name + "/" + b.Model.(Embedder).EmbeddingModel()
}

func (r *Router) noEmbedder() error {
	var names []string
	for _, b := range r.backends {
		if embeds(b) {
			names = append(names, b.Name+" (misconfigured)")
		}
	}
	switch {
	case len(r.backends) == 0:
		return fmt.Errorf("%w: %w: none configured", ErrNoEmbeddings, ErrNoBackend)
	case len(names) == 0:
		return fmt.Errorf("%w: none of the %d backends has an embedding model (set %s for %s)",
			ErrNoEmbeddings, len(r.backends), EnvEmbeddingModel, PresetCustom)
	default:
		return fmt.Errorf("%w: %s", ErrNoBackend, strings.Join(names, ", "))
	}
}

// recovered records a good answer that is not a latency sample (an
// embeddings call, whose latency says nothing about chat's first token):
// the backend is healthy again.
func (s *backendState) recovered() {
	s.mu.Lock()
	s.consecutive = 0
	s.cooldownUntil = time.Time{}
	s.misconfigured = false
	s.warned = false
	s.mu.Unlock()
}
