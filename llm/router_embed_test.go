package llm_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
)

// chatOnly is a model without embeddings.
type chatOnly struct{}

func (chatOnly) Call(context.Context, string, ...llms.CallOption) (string, error) { return "", nil }
func (chatOnly) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{}}}, nil
}

// noEmbeddingModel is an llmtest backend whose Backend has no EmbeddingModel.
func noEmbeddingModel(t *testing.T, name string) (*llmtest.Server, llm.Named) {
	s := llmtest.NewServer(t)
	b := s.Backend(name)
	b.EmbeddingModel = ""
	return s, llm.Route(b)
}

func TestRouterEmbeddingFailsOverOn500(t *testing.T) {
	a, na := backend(t, "ionet", llmtest.WithEmbeddingStatus(500), llmtest.WithReplies(llmtest.Reply{Text: "chat"}))
	b, nb := backend(t, "akash", llmtest.WithEmbeddingDim(4))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))

	if got := r.EmbeddingModel(); got != "ionet/"+llmtest.DefaultEmbeddingModel {
		t.Errorf("EmbeddingModel() before = %q", got)
	}
	vecs, model, err := r.EmbedWithModel(t.Context(), []string{"x", "y"})
	if err != nil {
		t.Fatal(err)
	}
	if model != "akash/"+llmtest.DefaultEmbeddingModel {
		t.Errorf("answered by %q", model)
	}
	if !reflect.DeepEqual(vecs, [][]float32{llmtest.Embedding("x", 4), llmtest.Embedding("y", 4)}) {
		t.Errorf("vectors %v", vecs)
	}
	if a.EmbeddingCount() != 1 || b.EmbeddingCount() != 1 || a.Pending() != 1 {
		t.Errorf("embeddings: ionet %d akash %d; ionet chat replies left %d", a.EmbeddingCount(), b.EmbeddingCount(), a.Pending())
	}
	if h := healthOf(t, r, "ionet"); h.State != llm.StateCooldown || h.Failures != 1 {
		t.Errorf("ionet health after a 500: %+v", h)
	}
	if h := healthOf(t, r, "akash"); h.State != llm.StateOK || h.Samples != 0 || h.Requests != 1 {
		t.Errorf("akash health: %+v (embeddings are no latency sample)", h)
	}
	// The cooling backend is now the last resort: the next answer, and its
	// tag, come from akash.
	if got := r.EmbeddingModel(); got != "akash/"+llmtest.DefaultEmbeddingModel {
		t.Errorf("EmbeddingModel() after = %q", got)
	}
	if _, err := r.CreateEmbedding(t.Context(), []string{"z"}); err != nil || a.EmbeddingCount() != 1 {
		t.Errorf("second call: %v, ionet asked %d times", err, a.EmbeddingCount())
	}
}

func TestRouterEmbeddingAllFail(t *testing.T) {
	_, na := backend(t, "ionet", llmtest.WithEmbeddingStatus(502))
	_, nb := backend(t, "akash", llmtest.WithEmbeddingStatus(429))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))
	_, err := r.CreateEmbedding(t.Context(), []string{"x"})
	var fe *llm.FailoverError
	if !errors.As(err, &fe) || len(fe.Errs) != 2 {
		t.Fatalf("err = %v, want a FailoverError with two attempts", err)
	}
}

func TestRouterEmbeddingFatalNotFailedOver(t *testing.T) {
	_, na := backend(t, "ionet", llmtest.WithEmbeddingStatus(400))
	b, nb := backend(t, "akash")
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))
	_, err := r.CreateEmbedding(t.Context(), []string{"x"})
	var he *llm.HTTPError
	if !errors.As(err, &he) || he.Status != 400 || b.EmbeddingCount() != 0 {
		t.Fatalf("err = %v, akash asked %d times", err, b.EmbeddingCount())
	}
}

func TestRouterEmbeddingSkipsBackendsWithout(t *testing.T) {
	s, ns := noEmbeddingModel(t, "ionet")
	b, nb := backend(t, "akash")
	r := llm.NewRouter([]llm.Named{{Name: "offline", Model: chatOnly{}}, ns, nb}, llm.WithRouterLogger(quietLogger()))
	if got := r.EmbeddingModel(); got != "akash/"+llmtest.DefaultEmbeddingModel {
		t.Errorf("EmbeddingModel() = %q", got)
	}
	if _, err := r.CreateEmbedding(t.Context(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if len(s.Requests()) != 0 || b.EmbeddingCount() != 1 {
		t.Errorf("ionet got %d requests, akash %d embeddings", len(s.Requests()), b.EmbeddingCount())
	}
}

func TestRouterEmbeddingNoModel(t *testing.T) {
	s, ns := noEmbeddingModel(t, "ionet")
	r := llm.NewRouter([]llm.Named{ns, {Name: "offline", Model: chatOnly{}}}, llm.WithRouterLogger(quietLogger()))
	_, err := r.CreateEmbedding(t.Context(), []string{"x"})
	if !errors.Is(err, llm.ErrNoEmbeddings) || len(s.Requests()) != 0 {
		t.Fatalf("err = %v after %d requests, want ErrNoEmbeddings and none", err, len(s.Requests()))
	}
	if got := r.EmbeddingModel(); got != "" {
		t.Errorf("EmbeddingModel() = %q", got)
	}
	_, err = llm.NewRouter(nil).CreateEmbedding(t.Context(), []string{"x"})
	if !errors.Is(err, llm.ErrNoEmbeddings) || !errors.Is(err, llm.ErrNoBackend) {
		t.Errorf("empty router: err = %v", err)
	}
}

func TestRouterEmbeddingMisconfigured(t *testing.T) {
	a, na := backend(t, "ionet", llmtest.WithAPIKey("sk-right"))
	na = llm.Route(func() llm.Backend { b := a.Backend("ionet"); b.APIKey = "sk-wrong"; return b }())
	b, nb := backend(t, "akash")
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))
	if _, err := r.CreateEmbedding(t.Context(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, r, "ionet"); h.State != llm.StateMisconfigured {
		t.Errorf("ionet health after a 401: %+v", h)
	}
	if _, err := r.CreateEmbedding(t.Context(), []string{"y"}); err != nil || a.EmbeddingCount() != 1 || b.EmbeddingCount() != 2 {
		t.Errorf("second call: %v; ionet %d akash %d", err, a.EmbeddingCount(), b.EmbeddingCount())
	}
	lone := llm.NewRouter([]llm.Named{na}, llm.WithRouterLogger(quietLogger()))
	if _, err := lone.CreateEmbedding(t.Context(), []string{"x"}); err == nil {
		t.Error("a lone misconfigured backend answered")
	}
	if _, err := lone.CreateEmbedding(t.Context(), []string{"x"}); !errors.Is(err, llm.ErrNoBackend) || a.EmbeddingCount() != 2 {
		t.Errorf("after the 401: err = %v, ionet asked %d times", err, a.EmbeddingCount())
	}
}
