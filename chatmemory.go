package mandate

import (
	"context"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/memory"
)

// ChatMemory makes the database's conversation memory the agent's: history,
// recall by words and by meaning, the rolling summary and remembered facts
// (the agent uses each of agent.Recaller, agent.Vectors, agent.Summaries and
// agent.FactStore when its Memory is one). It lives here, not in agent or
// memory, so that neither knows the other: a program importing agent links
// no database driver. A nil c gives a nil Memory, which keeps conversations
// in process.
func ChatMemory(c *memory.Chats) agent.Memory {
	if c == nil {
		return nil
	}
	return chatMemory{c}
}

// chatMemory converts between the two message types, which have the same
// fields: a struct conversion per message, no field-by-field copy.
type chatMemory struct{ c *memory.Chats }

var (
	_ agent.Recaller  = chatMemory{}
	_ agent.Vectors   = chatMemory{}
	_ agent.Summaries = chatMemory{}
	_ agent.FactStore = chatMemory{}
)

// Append stores msgs and, as memory.Chats.Append does, fills in their ID,
// Chat, Tokens and At in the caller's slice: the agent keeps the ID of the
// owner's message to tell it from recalled ones.
func (m chatMemory) Append(ctx context.Context, chat string, msgs ...agent.Message) error {
	stored := make([]memory.Message, len(msgs))
	for i, msg := range msgs {
		stored[i] = memory.Message(msg)
	}
	if err := m.c.Append(ctx, chat, stored...); err != nil {
		return err
	}
	for i, s := range stored {
		msgs[i] = agent.Message(s)
	}
	return nil
}

func (m chatMemory) Recent(ctx context.Context, chat string, budget int) ([]agent.Message, error) {
	return agentMessages(m.c.Recent(ctx, chat, budget))
}

func (m chatMemory) Recall(ctx context.Context, chat, query string, k int) ([]agent.Message, error) {
	return agentMessages(m.c.Recall(ctx, chat, query, k))
}

func (m chatMemory) PutEmbedding(ctx context.Context, msgID int64, model string, vec []float32) error {
	return m.c.PutEmbedding(ctx, msgID, model, vec)
}

func (m chatMemory) Nearest(ctx context.Context, chat, model string, vec []float32, k int) ([]agent.Message, error) {
	return agentMessages(m.c.Nearest(ctx, chat, model, vec, k))
}

func (m chatMemory) Summary(ctx context.Context, chat string) (string, int64, error) {
	return m.c.Summary(ctx, chat)
}

func (m chatMemory) SetSummary(ctx context.Context, chat, text string, upTo int64) error {
	return m.c.SetSummary(ctx, chat, text, upTo)
}

func (m chatMemory) Facts(ctx context.Context, chat string) (map[string]string, error) {
	return m.c.Facts(ctx, chat)
}

func agentMessages(ms []memory.Message, err error) ([]agent.Message, error) {
	if err != nil || ms == nil {
		return nil, err
	}
	out := make([]agent.Message, len(ms))
	for i, m := range ms {
		out[i] = agent.Message(m)
	}
	return out, nil
}
