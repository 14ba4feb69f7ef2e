package agent

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// localMemory keeps conversations in process when no Memory is given.
type localMemory struct {
	mu    sync.Mutex
	chats map[string][]Message
}

func newLocalMemory() *localMemory { return &localMemory{chats: map[string][]Message{}} }

func (l *localMemory) Append(_ context.Context, chat string, msgs ...Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range msgs {
		msgs[i].Chat, msgs[i].At = chat, time.Now()
		msgs[i].ID = int64(len(l.chats[chat]) + 1)
		m := msgs[i]
		m.ToolCalls = bytes.Clone(m.ToolCalls) // kept: not the caller's bytes
		l.chats[chat] = append(l.chats[chat], m)
	}
	return nil
}

// Recent returns the newest messages within budget, oldest first, starting
// at a user message so no tool result is separated from its call.
func (l *localMemory) Recent(_ context.Context, chat string, budget int) ([]Message, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := l.chats[chat]
	start, used := len(ms), 0
	for i := len(ms) - 1; i >= 0; i-- {
		used += ms[i].Tokens
		if used > budget {
			break
		}
		if ms[i].Role == "user" {
			start = i
		}
	}
	return append([]Message(nil), ms[start:]...), nil
}
