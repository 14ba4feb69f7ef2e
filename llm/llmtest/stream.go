package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// stream answers a streaming request as OpenAI does: a role chunk, content
// deltas, tool-call deltas (id, type and name only in a call's first
// delta), a chunk with finish_reason, a usage chunk when asked for, [DONE].
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req Request, reply Reply) {
	if reply.Stall && reply.FailAfter == 0 {
		s.stall(r) // accepted, never answered: not even headers
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	created := time.Now().Unix()
	first := true
	send := func(payload string) bool {
		if !first && !s.sleep(r, reply.ChunkLatency) {
			return false
		}
		first = false
		if reply.KeepAlives {
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", payload); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	chunk := func(delta map[string]any, finish any) string {
		b, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-llmtest", "object": "chat.completion.chunk", "created": created, "model": DefaultModel,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}},
		})
		return string(b)
	}

	if !send(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	deltas := streamDeltas(reply)
	for i, d := range deltas {
		if i == reply.FailAfter && s.fault(r, reply, send) {
			return
		}
		if !send(chunk(d, nil)) {
			return
		}
	}
	if reply.FailAfter >= len(deltas) && s.fault(r, reply, send) {
		return
	}
	if !send(chunk(map[string]any{}, finishReason(reply))) {
		return
	}
	if reply.Usage != nil && req.IncludeUsage {
		b, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-llmtest", "object": "chat.completion.chunk", "created": created, "model": DefaultModel,
			"choices": []any{}, "usage": reply.Usage,
		})
		if !send(string(b)) {
			return
		}
	}
	if !reply.NoDone {
		send("[DONE]")
	}
}

// fault delivers the reply's streaming fault, if any, reporting whether
// the stream is over.
func (s *Server) fault(r *http.Request, reply Reply, send func(string) bool) bool {
	switch {
	case reply.MidStreamError:
		b, _ := json.Marshal(errorBody(errorMessage(reply), "server_error"))
		send(string(b))
		return true
	case reply.MalformedJSON:
		send(fmt.Sprintf(`{"choices":[{"index":0,"delta":{"content":%q`, reply.ErrorMessage+"oops"))
		return true
	case reply.Stall:
		s.stall(r)
		return true
	case reply.Truncate:
		return true
	}
	return false
}

// streamDeltas lists the deltas of a reply: the text in Chunks pieces, then
// each tool call's arguments in Chunks pieces, one call after another or
// round-robin when Interleave is set.
func streamDeltas(reply Reply) []map[string]any {
	n := max(reply.Chunks, 1)
	var out []map[string]any
	if reply.Text != "" {
		for _, p := range split(reply.Text, n) {
			out = append(out, map[string]any{"content": p})
		}
	}
	perCall := make([][]map[string]any, len(reply.ToolCalls))
	for i, tc := range reply.ToolCalls {
		for j, p := range split(tc.Arguments, n) {
			fn := map[string]any{"arguments": p}
			d := map[string]any{"index": i}
			if j == 0 {
				d["id"] = callID(tc, i)
				d["type"] = "function"
				fn["name"] = tc.Name
			}
			d["function"] = fn
			perCall[i] = append(perCall[i], map[string]any{"tool_calls": []any{d}})
		}
	}
	if reply.Interleave {
		for j := 0; ; j++ {
			more := false
			for i := range perCall {
				if j < len(perCall[i]) {
					out = append(out, perCall[i][j])
					more = true
				}
			}
			if !more {
				break
			}
		}
	} else {
		for _, ds := range perCall {
			out = append(out, ds...)
		}
	}
	return out
}

// split cuts s into n pieces of about equal length on rune boundaries
// (fewer when s is shorter); an empty s is one empty piece, so a tool call
// without arguments still gets its first delta.
func split(s string, n int) []string {
	rs := []rune(s)
	if len(rs) == 0 {
		return []string{""}
	}
	n = min(n, len(rs))
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, string(rs[i*len(rs)/n:(i+1)*len(rs)/n]))
	}
	return out
}
