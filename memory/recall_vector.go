package memory

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"gorm.io/gorm"
)

// Embeddings are stored with the model that made them and their dimension,
// and Nearest compares only vectors of the same model and dimension: two
// models' vectors live in unrelated spaces (even at equal dimension), and a
// backend that changes its model under the same name usually changes the
// dimension, which is the check that catches it. Vectors are little-endian
// float32 blobs, and the search is an exact scan of one chat's vectors in
// Go, which needs no database extension (pgvector, sqlite-vec) and is fast
// enough for the thousands of messages a chat holds.

// PutEmbedding stores vec as the embedding of message msgID by model,
// replacing the one model made before. It fails with ErrNotFound when there
// is no such message, and with ErrInvalid for an empty model, an empty
// vector, a non-finite component or a zero vector (which has no direction
// to compare).
func (c *Chats) PutEmbedding(ctx context.Context, msgID int64, model string, vec []float32) error {
	if err := checkKey(model); err != nil {
		return fmt.Errorf("memory: put embedding of message %d: model: %w", msgID, err)
	}
	if _, err := norm(vec); err != nil {
		return fmt.Errorf("memory: put embedding of message %d: %w", msgID, err)
	}
	blob := encodeVec(vec)
	err := c.s.write(ctx, func(tx *gorm.DB) error {
		var chats []string
		if err := tx.Raw("SELECT chat FROM chat_messages WHERE id = ?", msgID).Scan(&chats).Error; err != nil {
			return err
		}
		if len(chats) == 0 {
			return ErrNotFound
		}
		return tx.Exec(`INSERT INTO chat_embeddings (message_id, chat, model, dim, vec) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (message_id, model) DO UPDATE SET dim = excluded.dim, vec = excluded.vec`,
			msgID, chats[0], model, len(vec), blob).Error
	})
	if err != nil {
		return fmt.Errorf("memory: put embedding of message %d: %w", msgID, err)
	}
	return nil
}

// Nearest returns up to k messages of chat whose embeddings by model are
// closest to vec by cosine similarity, best first (ties: newest first).
// Only vectors of that model and of vec's dimension take part, so after a
// model change it finds nothing until the messages are embedded again.
func (c *Chats) Nearest(ctx context.Context, chat, model string, vec []float32, k int) ([]Message, error) {
	if err := checkChat(chat); err != nil {
		return nil, fmt.Errorf("memory: nearest: %w", err)
	}
	qn, err := norm(vec)
	if err != nil {
		return nil, fmt.Errorf("memory: nearest in %s: %w", chat, err)
	}
	if k <= 0 {
		return nil, nil
	}
	k = min(k, maxRecallK)
	rows, err := c.s.read(ctx).Raw("SELECT message_id, vec FROM chat_embeddings WHERE chat = ? AND model = ? AND dim = ?",
		chat, model, len(vec)).Rows()
	if err != nil {
		return nil, fmt.Errorf("memory: nearest in %s: %w", chat, err)
	}
	defer rows.Close()
	var hits []hit
	var blob []byte
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, fmt.Errorf("memory: nearest in %s: %w", chat, err)
		}
		if len(blob) != 4*len(vec) {
			// dim said one thing and the blob another: a damaged row, not a
			// reason to fail the whole search.
			c.s.log.WarnContext(ctx, "embedding length does not match its dimension; skipped",
				"message", id, "model", model, "dim", len(vec), "bytes", len(blob))
			continue
		}
		var dot, n float64
		for i, q := range vec {
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:])))
			dot += float64(q) * v
			n += v * v
		}
		if n == 0 {
			continue
		}
		hits = append(hits, hit{id, dot / (qn * math.Sqrt(n))})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("memory: nearest in %s: %w", chat, err)
	}
	rows.Close() // before byIDs: an in-memory SQLite store has one connection
	ids := topIDs(hits, k)
	out, err := c.byIDs(ctx, chat, ids)
	if err != nil {
		return nil, fmt.Errorf("memory: nearest in %s: %w", chat, err)
	}
	return out, nil
}

// norm is vec's Euclidean length, or an error when vec cannot be compared.
func norm(vec []float32) (float64, error) {
	if len(vec) == 0 {
		return 0, fmt.Errorf("empty vector: %w", ErrInvalid)
	}
	var n float64
	for _, v := range vec {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("vector has a non-finite component: %w", ErrInvalid)
		}
		n += f * f
	}
	if n == 0 {
		return 0, fmt.Errorf("zero vector: %w", ErrInvalid)
	}
	return math.Sqrt(n), nil
}

func encodeVec(vec []float32) []byte {
	b := make([]byte, 4*len(vec))
	for i, v := range vec {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
