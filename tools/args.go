package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Decode unmarshals a tool's JSON arguments into v strictly: unknown fields,
// wrong types and trailing data are argument errors that name the field.
func Decode(tool string, args json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return Argf(tool, "argument %q must be a %s, not a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return Argf(tool, "unknown argument %s; the schema (`mandate tools list --json`) lists the arguments", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return Argf(tool, "arguments are not valid JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Argf(tool, "arguments must be one JSON object with nothing after it")
	}
	return nil
}

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
