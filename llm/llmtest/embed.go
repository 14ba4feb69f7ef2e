package llmtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
)

// URL paths the server answers, as Request.Path reports them.
const (
	ChatPath       = "/v1/chat/completions"
	EmbeddingsPath = "/v1/embeddings"
)

// DefaultEmbeddingModel is the embedding model id Backend sets.
const DefaultEmbeddingModel = "llmtest-embedding"

// DefaultEmbeddingDim is the dimension of the vectors the server answers
// unless WithEmbeddingDim says otherwise.
const DefaultEmbeddingDim = 8

// Embedding returns the vector the server answers for text at dimension
// dim: derived from SHA-256 of the text, so equal texts get equal vectors
// and different texts, in practice, different ones; of unit length, so
// cosine similarity is a dot product.
func Embedding(text string, dim int) []float32 {
	v := make([]float32, dim)
	var (
		block [sha256.Size]byte
		ctr   [4]byte
		norm  float64
	)
	for i := range v {
		if i%(sha256.Size/4) == 0 {
			binary.BigEndian.PutUint32(ctr[:], uint32(i/(sha256.Size/4)))
			block = sha256.Sum256(append(ctr[:], text...))
		}
		u := binary.BigEndian.Uint32(block[4*(i%(sha256.Size/4)):])
		x := float64(u)/float64(math.MaxUint32)*2 - 1
		v[i] = float32(x)
		norm += x * x
	}
	if norm = math.Sqrt(norm); norm > 0 {
		for i := range v {
			v[i] = float32(float64(v[i]) / norm)
		}
	}
	return v
}

// embeddings answers POST /v1/embeddings. The data comes in reverse order
// of index, since a client must place vectors by index, not by position.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req := Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	var wr struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	decErr := json.Unmarshal(body, &wr)
	if decErr == nil {
		req.Model = wr.Model
		req.Input, decErr = decodeInput(wr.Input)
	}

	if !s.admit(w, r, &req, decErr, &s.embedCount) {
		return
	}
	if s.embedStatus != 0 {
		writeError(w, s.embedStatus, http.StatusText(s.embedStatus), errorType(s.embedStatus))
		return
	}
	if len(req.Input) == 0 {
		writeError(w, http.StatusBadRequest, "llmtest: input must not be empty", "invalid_request_error")
		return
	}
	data := make([]map[string]any, 0, len(req.Input))
	tokens := 0
	for i := len(req.Input) - 1; i >= 0; i-- {
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": Embedding(req.Input[i], s.embedDim)})
		tokens += len(strings.Fields(req.Input[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// decodeInput reads an embeddings input: one string or an array of them.
func decodeInput(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return []string{s}, err
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	return ss, nil
}
