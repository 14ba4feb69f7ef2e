package llm_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmc/langchaingo/embeddings"

	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
)

// Both satisfy langchaingo's embedder client.
var (
	_ embeddings.EmbedderClient = (*llm.Client)(nil)
	_ embeddings.EmbedderClient = (*llm.Router)(nil)
)

// rawServer answers /v1/embeddings with h; for answers llmtest does not script.
func rawServer(t *testing.T, h http.HandlerFunc) llm.Backend {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return llm.Backend{Name: "raw", BaseURL: srv.URL + "/v1", APIKey: testKey, Model: "m", EmbeddingModel: "e"}
}

func TestClientEmbeddingOrderByIndex(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithAPIKey(testKey), llmtest.WithEmbeddingDim(5))
	c := llm.NewClient(s.Backend("test"))
	texts := []string{"swap 1 ETH", "balance?", "send 5 USDC to bob", "swap 1 ETH"}
	vecs, err := c.CreateEmbedding(t.Context(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
	}
	for i, text := range texts {
		if want := llmtest.Embedding(text, 5); !reflect.DeepEqual(vecs[i], want) {
			t.Errorf("vector %d = %v, want %v (the server answers in reverse order)", i, vecs[i], want)
		}
	}
	if reflect.DeepEqual(vecs[0], vecs[1]) || !reflect.DeepEqual(vecs[0], vecs[3]) {
		t.Error("vectors are not per text")
	}
	reqs := s.Requests()
	if len(reqs) != 1 || s.Count() != 0 || s.EmbeddingCount() != 1 {
		t.Fatalf("%d requests, chat %d, embeddings %d", len(reqs), s.Count(), s.EmbeddingCount())
	}
	req := reqs[0]
	if req.Path != llmtest.EmbeddingsPath || req.Model != llmtest.DefaultEmbeddingModel || !reflect.DeepEqual(req.Input, texts) {
		t.Errorf("request = %+v", req)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
	if c.EmbeddingModel() != llmtest.DefaultEmbeddingModel {
		t.Errorf("EmbeddingModel() = %q", c.EmbeddingModel())
	}

	// Through langchaingo's Embedder.
	e, err := embeddings.NewEmbedder(c)
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.EmbedQuery(t.Context(), "balance?")
	if err != nil || !reflect.DeepEqual(q, vecs[1]) {
		t.Errorf("EmbedQuery = %v, %v", q, err)
	}
}

func TestClientEmbeddingBatches(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithEmbeddingDim(3))
	c := llm.NewClient(s.Backend("test"))
	texts := make([]string, 2*llm.MaxEmbeddingInputs+5)
	for i := range texts {
		texts[i] = fmt.Sprintf("text %d", i)
	}
	vecs, err := c.CreateEmbedding(t.Context(), texts)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, r := range s.Requests() {
		sizes = append(sizes, len(r.Input))
	}
	if want := []int{2048, 2048, 5}; !reflect.DeepEqual(sizes, want) {
		t.Fatalf("batch sizes %v, want %v", sizes, want)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
	}
	for _, i := range []int{0, 2047, 2048, 4095, 4096, len(texts) - 1} {
		if !reflect.DeepEqual(vecs[i], llmtest.Embedding(texts[i], 3)) {
			t.Errorf("vector %d is not text %d's", i, i)
		}
	}

	// Nothing to embed: no request.
	if vecs, err := c.CreateEmbedding(t.Context(), nil); err != nil || len(vecs) != 0 || s.EmbeddingCount() != 3 {
		t.Errorf("empty input: %v, %v, %d requests", vecs, err, s.EmbeddingCount())
	}
}

func TestClientEmbeddingDimensionMismatch(t *testing.T) {
	// Within one answer.
	b := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"index":0,"embedding":[0.1,0.2,0.3]},{"index":1,"embedding":[0.1,0.2]}]}`)
	})
	_, err := llm.NewClient(b).CreateEmbedding(t.Context(), []string{"a", "b"})
	if !errors.Is(err, llm.ErrMalformedResponse) || !strings.Contains(err.Error(), "dimension") {
		t.Errorf("one answer: err = %v", err)
	}

	// Across batches.
	var n atomic.Int32
	b = rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			var data []string
			for i := range llm.MaxEmbeddingInputs {
				data = append(data, fmt.Sprintf(`{"index":%d,"embedding":[1,0,0]}`, i))
			}
			fmt.Fprintf(w, `{"data":[%s]}`, strings.Join(data, ","))
			return
		}
		fmt.Fprint(w, `{"data":[{"index":0,"embedding":[1,0]}]}`)
	})
	_, err = llm.NewClient(b).CreateEmbedding(t.Context(), make([]string, llm.MaxEmbeddingInputs+1))
	if !errors.Is(err, llm.ErrMalformedResponse) || !strings.Contains(err.Error(), "dimension") || n.Load() != 2 {
		t.Errorf("across batches: err = %v after %d requests", err, n.Load())
	}
}

func TestClientEmbeddingNoModel(t *testing.T) {
	s := llmtest.NewServer(t)
	b := s.Backend("test")
	b.EmbeddingModel = ""
	vecs, err := llm.NewClient(b).CreateEmbedding(t.Context(), []string{"a"})
	if !errors.Is(err, llm.ErrNoEmbeddings) || vecs != nil {
		t.Fatalf("CreateEmbedding = %v, %v; want ErrNoEmbeddings", vecs, err)
	}
	if len(s.Requests()) != 0 {
		t.Fatalf("%d requests sent", len(s.Requests()))
	}
}

func TestClientEmbeddingHTTPErrors(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithEmbeddingStatus(503), llmtest.WithReplies(llmtest.Reply{Status: 429}))
	_, err := llm.NewClient(s.Backend("test")).CreateEmbedding(t.Context(), []string{"a"})
	var he *llm.HTTPError
	if !errors.As(err, &he) || he.Status != 503 || he.Backend != "test" {
		t.Fatalf("err = %v, want an HTTPError 503", err)
	}
	if s.Pending() != 1 {
		t.Error("an embeddings request consumed a chat reply")
	}

	b := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		fmt.Fprint(w, `{"error":{"message":"slow down","type":"rate_limit_exceeded"}}`)
	})
	_, err = llm.NewClient(b).CreateEmbedding(t.Context(), []string{"a"})
	if !errors.As(err, &he) || he.Status != 429 || he.RetryAfter != 7*time.Second || he.Message != "slow down" {
		t.Fatalf("err = %#v", he)
	}
}

func TestClientEmbeddingMalformed(t *testing.T) {
	bodies := map[string]string{
		"invalid JSON":       `{"data":[{"index":0,"embedding":[0.1`,
		"too few":            `{"data":[]}`,
		"index out of range": `{"data":[{"index":1,"embedding":[0.1]}]}`,
		"repeated index":     `{"data":[{"index":0,"embedding":[0.1]},{"index":0,"embedding":[0.2]}]}`,
		"empty vector":       `{"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[]}]}`,
		"not numbers":        `{"data":[{"index":0,"embedding":["a"]},{"index":1,"embedding":[1]}]}`,
	}
	for name, body := range bodies {
		b := rawServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })
		n := 2
		if name == "index out of range" {
			n = 1
		}
		_, err := llm.NewClient(b).CreateEmbedding(t.Context(), make([]string, n))
		if !errors.Is(err, llm.ErrMalformedResponse) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestClientEmbeddingIndexAbsentAndBase64(t *testing.T) {
	b64 := func(v ...float32) string {
		buf := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
		}
		return base64.StdEncoding.EncodeToString(buf)
	}
	b := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"data":[{"embedding":[1,2]},{"embedding":%q}]}`, b64(3, 4))
	})
	vecs, err := llm.NewClient(b).CreateEmbedding(t.Context(), []string{"a", "b"})
	if err != nil || !reflect.DeepEqual(vecs, [][]float32{{1, 2}, {3, 4}}) {
		t.Fatalf("CreateEmbedding = %v, %v", vecs, err)
	}
}

func TestClientEmbeddingKeyNeverInErrors(t *testing.T) {
	quote := "leaked " + testKey + " here"
	// The server quotes the (wrong) key in its 401.
	s := llmtest.NewServer(t, llmtest.WithAPIKey("sk-the-right-one"))
	b := s.Backend("test")
	b.APIKey = testKey
	_, err := llm.NewClient(b).CreateEmbedding(t.Context(), []string{"a"})
	var he *llm.HTTPError
	if !errors.As(err, &he) || he.Status != 401 {
		t.Fatalf("err = %v, want a 401", err)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(he.Message, testKey) {
		t.Errorf("key in the 401 error: %v", err)
	}

	bodies := map[string]struct {
		status int
		body   string
	}{
		"500":        {500, `{"error":{"message":"` + quote + `"}}`},
		"200 error":  {200, `{"error":{"message":"` + quote + `"}}`},
		"malformed":  {200, `{"data":"` + quote},
		"bad vector": {200, `{"data":[{"index":0,"embedding":"` + quote + `"}]}`},
	}
	for name, c := range bodies {
		b := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(c.status)
			fmt.Fprint(w, c.body)
		})
		_, err := llm.NewClient(b).CreateEmbedding(t.Context(), []string{"a"})
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: key in error: %v", name, err)
		}
		if errors.As(err, &he) && strings.Contains(he.Message, testKey) {
			t.Errorf("%s: key in HTTPError.Message", name)
		}
		var se *llm.StreamError
		if errors.As(err, &se) && strings.Contains(se.Message, testKey) {
			t.Errorf("%s: key in StreamError.Message", name)
		}
	}
}
