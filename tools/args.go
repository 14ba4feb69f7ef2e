package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Decode unmarshals a tool's JSON arguments into v strictly: unknown fields,
// wrong types and trailing data are argument errors that name the field.
func Decode(tool string, args json.RawMessage, v any) error {
	d := decoders.Get().(*argDecoder)
	d.r.Reset(args)
	err := d.dec.Decode(v)
	if err == nil {
		if _, end := d.dec.Token(); end != io.EOF {
			return Argf(tool, "arguments must be one JSON object with nothing after it")
		}
		if len(args) <= maxPooledArgs {
			d.r.Reset(nil)  // the pool keeps no caller's bytes
			decoders.Put(d) // read to its end without error: ready for the next value
		}
		return nil
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return Argf(tool, "argument %q must be a %s, not a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Argf(tool, "unknown argument %s; the tool's schema lists its arguments", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return Argf(tool, "arguments are not valid JSON: %v", err)
	}
}

// argDecoder is a strict json.Decoder over a reader that is pointed at each
// call's arguments in turn. A json.Decoder reads a stream of values; one
// that decoded a value and then found the end of its input without an
// error is where a fresh one would be, ready for the next value, so it is
// reused (with its buffer, scanner and error context) rather than built
// for every call. A decoder that met any error is dropped.
type argDecoder struct {
	r   bytes.Reader
	dec *json.Decoder
}

// maxPooledArgs bounds the buffer a pooled decoder keeps.
const maxPooledArgs = 4 << 10

var decoders = sync.Pool{New: func() any {
	d := &argDecoder{}
	d.dec = json.NewDecoder(&d.r)
	d.dec.DisallowUnknownFields()
	return d
}}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "uint", "uint32", "uint64", "int32":
		return "number"
	default:
		return goKind
	}
}

// Require returns an argument error when a required string argument is empty.
func Require(tool string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return Argf(tool, "argument %q is required", pairs[i])
		}
	}
	return nil
}

// Schema builds a JSON Schema object for string arguments; required names
// are listed in req. It keeps tool definitions short and uniform.
func Schema(props map[string]string, req ...string) json.RawMessage {
	type prop struct {
		Type        string `json:"type"`
		Description string `json:"description"`
	}
	p := map[string]prop{}
	for k, d := range props {
		p[k] = prop{Type: "string", Description: d}
	}
	if req == nil {
		req = []string{}
	}
	b, err := json.Marshal(struct {
		Type       string          `json:"type"`
		Properties map[string]prop `json:"properties"`
		Required   []string        `json:"required"`
		Additional bool            `json:"additionalProperties"`
	}{"object", p, req, false})
	if err != nil {
		panic(fmt.Sprintf("tools: schema: %v", err))
	}
	return b
}

// ReservedKeyPrefix starts the idempotency keys Mandate makes for its own
// runs (a standing order's "order-ID-RUN"); a key given in a tool's
// arguments may not use it, so a model cannot take an order's run over.
const ReservedKeyPrefix = "order-"

// CheckKey refuses an idempotency key from a tool's arguments that could
// collide with a key Mandate makes itself: one with the reserved prefix,
// or one with "/", which derived keys ("KEY/approve", a swap's approval)
// use. It also bounds the key's length.
func CheckKey(tool, key string) error {
	switch {
	case key == "":
		return nil
	case len(key) > 200:
		return Argf(tool, "idempotency_key is %d characters; use at most 200", len(key))
	case strings.HasPrefix(key, ReservedKeyPrefix):
		return Argf(tool, "idempotency_key may not start with %q: those keys are the standing orders' own", ReservedKeyPrefix)
	case strings.Contains(key, "/"):
		return Argf(tool, "idempotency_key may not contain \"/\": derived keys use it")
	}
	return nil
}
