package tools

import (
	"context"
	"encoding/json"
)

// Func adapts a function over typed arguments to a Tool: the arguments are
// decoded strictly (Decode) before run sees them.
func Func[A any](name, description string, schema json.RawMessage, run func(ctx context.Context, args A) (Result, error)) Tool {
	return funcTool[A]{name: name, desc: description, schema: schema, run: run}
}

type funcTool[A any] struct {
	name, desc string
	schema     json.RawMessage
	run        func(context.Context, A) (Result, error)
}

func (t funcTool[A]) Name() string            { return t.name }
func (t funcTool[A]) Description() string     { return t.desc }
func (t funcTool[A]) Schema() json.RawMessage { return t.schema }

func (t funcTool[A]) Call(ctx context.Context, raw json.RawMessage) (Result, error) {
	var args A
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	if err := Decode(t.name, raw, &args); err != nil {
		return Result{}, err
	}
	return t.run(ctx, args)
}
