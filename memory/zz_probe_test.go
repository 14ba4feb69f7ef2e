package memory_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory"
)

func TestZZProbe(t *testing.T) {
	ctx := context.Background()
	path := "/tmp/probe/recall.db"
	_, statErr := os.Stat(path)
	s, err := memory.Open(ctx, "sqlite:"+path)
	if err != nil { t.Fatal(err) }
	defer s.Close()
	c := s.Chats()
	if statErr != nil {
		conv := benchConversation(100000)
		for i := 0; i < 100000; i += 1000 {
			if err := c.Append(ctx, "bench:recall", conv[i:i+1000]...); err != nil { t.Fatal(err) }
		}
	}
	for _, q := range benchQueries {
		t0 := time.Now()
		ms, err := c.Recall(ctx, "bench:recall", q, 10)
		t.Log(q, len(ms), err, time.Since(t0))
	}
}
