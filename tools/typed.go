package tools

import (
	"context"
	"encoding/json"
	"sync"
)

// Func adapts a function over typed arguments to a Tool: the arguments are
// decoded strictly (Decode) before run sees them;
// opts declare its traits (ReadOnly).
func Func[A any](name, description string, schema json.RawMessage, run func(ctx context.Context, args A) (Result, error), opts ...FuncOption) Tool {
	t := funcTool[A]{name: name, desc: description, schema: schema, run: run,
		args: &sync.Pool{New: func() any { return new(A) }}}
	for _, o := range opts {
		o(&t.traits)
	}
	return t
}

type funcTool[A any] struct {
	name, desc string
	schema     json.RawMessage
	run        func(context.Context, A) (Result, error)
	args       *sync.Pool // of *A: decoding into a pooled value spares an allocation a call
	traits     Traits
}

func (t funcTool[A]) Name() string            { return t.name }
func (t funcTool[A]) Description() string     { return t.desc }
func (t funcTool[A]) Schema() json.RawMessage { return t.schema }
func (t funcTool[A]) Traits() Traits          { return t.traits }

func (t funcTool[A]) Call(ctx context.Context, raw json.RawMessage) (Result, error) {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	p := t.args.Get().(*A)
	var zero A
	*p = zero
	err := Decode(t.name, raw, p)
	args := *p
	*p = zero // the pool keeps no argument alive
	t.args.Put(p)
	if err != nil {
		return Result{}, err
	}
	return t.run(ctx, args)
}
