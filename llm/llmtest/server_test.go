package llmtest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/llm/llmtest"
)

func post(t *testing.T, s *llmtest.Server, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// events reads the data payloads of an SSE response.
func events(t *testing.T, resp *http.Response) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

type toolDelta struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// TestStreamShape checks the stream looks like a real server's: tool-call
// ids and names only in each call's first delta, deltas interleaved by
// index, finish_reason, usage when asked, [DONE].
func TestStreamShape(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{
		ToolCalls: []llmtest.ToolCall{{ID: "a", Name: "f", Arguments: `{"x":1}`}, {ID: "b", Name: "g", Arguments: `{"y":2}`}},
		Chunks:    3, Interleave: true, Usage: &llmtest.Usage{TotalTokens: 5},
	}))
	evs := events(t, post(t, s, `{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`))
	if evs[len(evs)-1] != "[DONE]" {
		t.Fatalf("last event %q", evs[len(evs)-1])
	}
	var order []int
	args := map[int]string{}
	for _, e := range evs[1 : len(evs)-3] { // after the role chunk, before finish, usage, [DONE]
		var c struct {
			Choices []struct {
				Delta struct {
					ToolCalls []toolDelta `json:"tool_calls"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatal(err)
		}
		d := c.Choices[0].Delta.ToolCalls[0]
		first := args[d.Index] == ""
		if first != (d.ID != "") || first != (d.Function.Name != "") {
			t.Errorf("delta %+v: id and name must come in the first delta only", d)
		}
		order = append(order, d.Index)
		args[d.Index] += d.Function.Arguments
	}
	if want := []int{0, 1, 0, 1, 0, 1}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if args[0] != `{"x":1}` || args[1] != `{"y":2}` {
		t.Errorf("arguments %v", args)
	}
	if !strings.Contains(evs[len(evs)-3], `"finish_reason":"tool_calls"`) || !strings.Contains(evs[len(evs)-2], `"total_tokens":5`) {
		t.Errorf("tail %q", evs[len(evs)-3:])
	}
}

func TestScriptExhausted(t *testing.T) {
	s := llmtest.NewServer(t)
	resp := post(t, s, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || !strings.Contains(string(body), "no scripted reply for request 0") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if s.Count() != 1 || s.Requests()[0].Messages[0].Content != "hi" {
		t.Errorf("count %d, requests %+v", s.Count(), s.Requests())
	}
}

func TestLatencyHook(t *testing.T) {
	var mu sync.Mutex
	var seen []int
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{}, llmtest.Reply{}),
		llmtest.WithLatency(func(i int) time.Duration {
			mu.Lock()
			seen = append(seen, i)
			mu.Unlock()
			return 0
		}))
	post(t, s, `{"model":"m","messages":[]}`)
	post(t, s, `{"model":"m","messages":[]}`)
	if !slices.Equal(seen, []int{0, 1}) || s.Pending() != 0 {
		t.Errorf("latency hook saw %v, pending %d", seen, s.Pending())
	}
}

func TestModels(t *testing.T) {
	s := llmtest.NewServer(t)
	resp, err := http.Get(s.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), llmtest.DefaultModel) || s.Count() != 0 {
		t.Errorf("%d %s (count %d)", resp.StatusCode, body, s.Count())
	}
}

func TestBadRequestBody(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{}))
	resp := post(t, s, `{"model":`)
	if resp.StatusCode != 400 || s.Pending() != 1 || string(s.Requests()[0].Body) != `{"model":` {
		t.Errorf("status %d, pending %d", resp.StatusCode, s.Pending())
	}
}

func TestEmbeddings(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithEmbeddingDim(6), llmtest.WithReplies(llmtest.Reply{Status: 500}))
	resp, err := http.Post(s.URL()+"/embeddings", "application/json",
		strings.NewReader(`{"model":"e","input":["a","b","c"]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if len(out.Data) != 3 || out.Model != "e" {
		t.Fatalf("answer %+v", out)
	}
	for i, d := range out.Data {
		text := []string{"a", "b", "c"}[d.Index]
		if d.Index != 2-i || !slices.Equal(d.Embedding, llmtest.Embedding(text, 6)) {
			t.Errorf("data[%d] = %+v, want index %d reversed", i, d, 2-i)
		}
	}
	v := llmtest.Embedding("a", 40)
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if len(v) != 40 || norm < 0.999 || norm > 1.001 || !slices.Equal(v, llmtest.Embedding("a", 40)) {
		t.Errorf("Embedding(a, 40) = %v (norm² %v)", v, norm)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Path != llmtest.EmbeddingsPath || !slices.Equal(reqs[0].Input, []string{"a", "b", "c"}) {
		t.Errorf("requests %+v", reqs)
	}
	if s.Pending() != 1 || s.Count() != 0 || s.EmbeddingCount() != 1 {
		t.Errorf("pending %d, chat %d, embeddings %d", s.Pending(), s.Count(), s.EmbeddingCount())
	}
	// Chat requests are recorded with their path too.
	post(t, s, `{"model":"m","messages":[]}`)
	if reqs := s.Requests(); len(reqs) != 2 || reqs[1].Path != llmtest.ChatPath || reqs[1].Index != 1 {
		t.Errorf("chat request %+v", reqs[len(reqs)-1])
	}
}

func TestEmbeddingStatus(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithEmbeddingStatus(503), llmtest.WithReplies(llmtest.Reply{Text: "hi"}))
	resp, err := http.Post(s.URL()+"/embeddings", "application/json", strings.NewReader(`{"model":"e","input":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || s.Pending() != 1 || s.Requests()[0].Input[0] != "a" {
		t.Errorf("status %d, pending %d", resp.StatusCode, s.Pending())
	}
}
