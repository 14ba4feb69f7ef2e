package llm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
)

// MaxEmbeddingInputs is the most inputs one embeddings request carries
// (OpenAI's limit); CreateEmbedding splits longer lists into batches sent
// one after another.
const MaxEmbeddingInputs = 2048

// embedBytesPerInput bounds an embeddings response body per input: a
// 4096-dimension vector in JSON is under 100 KiB.
const embedBytesPerInput = 128 << 10

// ErrNoEmbeddings is wrapped by CreateEmbedding when the backend (or, from
// the Router, every configured backend) has no EmbeddingModel. No request
// is sent.
var ErrNoEmbeddings = errors.New("llm: no embedding model configured")

// Embedder is a model that turns texts into vectors. Client and Router are
// Embedders; the Router routes embeddings to the models that are.
// EmbeddingModel names the model whose vectors CreateEmbedding returns,
// empty when there is none: vectors of different models must never be
// compared, so callers store it next to the vectors.
type Embedder interface {
	CreateEmbedding(ctx context.Context, texts []string) ([][]float32, error)
	EmbeddingModel() string
}

var _ Embedder = (*Client)(nil)

// EmbeddingModel returns the backend's EmbeddingModel.
func (c *Client) EmbeddingModel() string { return c.b.EmbeddingModel }

// CreateEmbedding returns one vector per text, in the order of texts, from
// {BaseURL}/embeddings with the backend's EmbeddingModel. It is the shape of
// langchaingo's embeddings.EmbedderClient, so embeddings.NewEmbedder takes
// a Client. Over MaxEmbeddingInputs texts are sent in several requests;
// any failure fails the whole call. All vectors have the same dimension,
// or the call fails.
//
// Errors: ErrNoEmbeddings (wrapped) when the backend has no
// EmbeddingModel, *HTTPError for a non-2xx answer, ErrMalformedResponse
// (wrapped) for an answer that cannot be read or does not fit the inputs,
// and the context's error when ctx ends. No error carries the API key.
func (c *Client) CreateEmbedding(ctx context.Context, texts []string) ([][]float32, error) {
	if c.b.EmbeddingModel == "" {
		return nil, fmt.Errorf("llm backend %s: %w", c.b.Name, ErrNoEmbeddings)
	}
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += MaxEmbeddingInputs {
		batch := texts[start:min(start+MaxEmbeddingInputs, len(texts))]
		vecs, err := c.embed(ctx, batch)
		if err == nil && len(out) > 0 && len(vecs[0]) != len(out[0]) {
			err = fmt.Errorf("llm backend %s: %w: embedding dimensions differ: input %d has %d, input 0 has %d",
				c.b.Name, ErrMalformedResponse, start, len(vecs[0]), len(out[0]))
		}
		if err != nil {
			err = c.redact(err)
			c.log.LogAttrs(ctx, slog.LevelDebug, "llm embeddings request failed", slog.Any("backend", c.b), slog.String("err", err.Error()))
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// embed sends one batch and returns its vectors in input order, all of one
// dimension.
func (c *Client) embed(ctx context.Context, batch []string) ([][]float32, error) {
	body, err := json.Marshal(embeddingRequest{Model: c.b.EmbeddingModel, Input: batch})
	if err != nil {
		return nil, fmt.Errorf("llm backend %s: encoding request: %w", c.b.Name, err)
	}
	endpoint := strings.TrimRight(c.b.BaseURL, "/") + "/embeddings"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("llm backend %s: %w", c.b.Name, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.b.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.b.APIKey)
	}

	start := time.Now()
	c.log.LogAttrs(ctx, slog.LevelDebug, "llm embeddings request", slog.Any("backend", c.b),
		slog.String("model", c.b.EmbeddingModel), slog.Int("inputs", len(batch)))
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		return nil, c.httpError(hresp)
	}
	limit := 1<<20 + len(batch)*embedBytesPerInput
	data, err := io.ReadAll(io.LimitReader(hresp.Body, int64(limit)+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("llm backend %s: embeddings response body over %d bytes: %w", c.b.Name, limit, ErrMalformedResponse)
	}
	vecs, err := c.readEmbeddings(data, len(batch))
	if err != nil {
		return nil, err
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "llm embeddings response", slog.Any("backend", c.b),
		slog.Duration("took", time.Since(start)), slog.Int("dimension", len(vecs[0])))
	return vecs, nil
}

// readEmbeddings decodes an embeddings answer for n inputs, placing each
// vector by its index.
func (c *Client) readEmbeddings(data []byte, n int) ([][]float32, error) {
	var r embeddingResponse
	if err := json.Unmarshal(data, &r); err != nil {
		// Redact before cutting, so a key cut in half cannot slip through.
		head := data[:min(len(data), 4096+len(c.b.APIKey))]
		return nil, fmt.Errorf("llm backend %s: %w: invalid JSON (%v) in body starting %q",
			c.b.Name, ErrMalformedResponse, err, shorten(c.clean(string(head)), 80))
	}
	if len(r.Error) > 0 && string(r.Error) != "null" {
		// A 200 carrying an error object: some gateways do this.
		return nil, &StreamError{Backend: c.b.Name, Message: c.clean(errorMessage(r.Error))}
	}
	if len(r.Data) != n {
		return nil, fmt.Errorf("llm backend %s: %w: %d embeddings for %d inputs", c.b.Name, ErrMalformedResponse, len(r.Data), n)
	}
	out := make([][]float32, n)
	for i, d := range r.Data {
		idx := i
		if d.Index != nil {
			idx = *d.Index
		}
		if idx < 0 || idx >= n || out[idx] != nil {
			return nil, fmt.Errorf("llm backend %s: %w: embedding index %d out of range or repeated", c.b.Name, ErrMalformedResponse, idx)
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, fmt.Errorf("llm backend %s: %w: embedding %d: %v", c.b.Name, ErrMalformedResponse, idx, err)
		}
		if len(v) == 0 {
			return nil, fmt.Errorf("llm backend %s: %w: embedding %d is empty", c.b.Name, ErrMalformedResponse, idx)
		}
		out[idx] = v
	}
	for i, v := range out {
		if len(v) != len(out[0]) {
			return nil, fmt.Errorf("llm backend %s: %w: embedding dimensions differ: input %d has %d, input 0 has %d",
				c.b.Name, ErrMalformedResponse, i, len(v), len(out[0]))
		}
	}
	return out, nil
}

// decodeVector reads an embedding as a JSON array of numbers or, as some
// servers send it, base64 of little-endian float32s.
func decodeVector(raw json.RawMessage) ([]float32, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		if len(b)%4 != 0 {
			return nil, fmt.Errorf("base64 vector of %d bytes is not float32s", len(b))
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return v, nil
}
