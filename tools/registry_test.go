package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/mandatehq/mandate/tools"
)

type echoArgs struct {
	Text string `json:"text"`
}

func echo(_ context.Context, a echoArgs) (tools.Result, error) {
	return tools.Result{Text: a.Text}, nil
}

// A zero Registry takes tools and calls them, like a zero http.ServeMux.
func TestZeroRegistry(t *testing.T) {
	var r tools.Registry
	if _, err := r.Call(t.Context(), "echo", nil); !errors.Is(err, tools.ErrUnknownTool) {
		t.Fatalf("empty registry: %v, want ErrUnknownTool", err)
	}
	r.Add(tools.Func("echo", "says it back", tools.Schema(map[string]string{"text": "what to say"}), echo, tools.ReadOnly()))
	res, err := r.Call(t.Context(), "echo", json.RawMessage(`{"text":"hi"}`))
	if err != nil || res.Text != "hi" {
		t.Fatalf("echo = %q, %v", res.Text, err)
	}
	if len(r.List()) != 1 {
		t.Fatalf("%d tools listed, want 1", len(r.List()))
	}
}

// A tool that declares nothing is taken for one that may move value: the
// safe default for a front end deciding who may call it.
func TestTraits(t *testing.T) {
	ro := tools.Func("ro", "", tools.Schema(nil), echo, tools.ReadOnly())
	mv := tools.Func("mv", "", tools.Schema(nil), echo)
	if tools.MovesValue(ro) || !tools.TraitsOf(ro).ReadOnly {
		t.Error("a tool declared read-only is taken for one that moves value")
	}
	if !tools.MovesValue(mv) {
		t.Error("a tool that declares nothing is taken for a read-only one")
	}
	var bare bareTool
	if !tools.MovesValue(bare) {
		t.Error("a Tool without Traits is taken for a read-only one")
	}
}

type bareTool struct{}

func (bareTool) Name() string            { return "bare" }
func (bareTool) Description() string     { return "" }
func (bareTool) Schema() json.RawMessage { return tools.Schema(nil) }
func (bareTool) Call(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Result{}, nil
}
