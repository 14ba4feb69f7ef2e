package mcp

import "context"

// OnCallStart has f hear each tool call as it starts, with its request's
// context, so a test can act in the middle of a call.
func OnCallStart(s *Server, f func(ctx context.Context, tool string)) { s.started = f }
