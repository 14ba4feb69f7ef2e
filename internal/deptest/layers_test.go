package deptest_test

import (
	"strings"
	"testing"

	"github.com/mandatehq/mandate/internal/deptest"
)

const module = "github.com/mandatehq/mandate"

// ours names packages of this module, relative to its root.
func ours(rel ...string) []string {
	out := make([]string, len(rel))
	for i, r := range rel {
		out[i] = module + "/" + r
	}
	return out
}

// drivers are the database drivers and the ORM: only memory (and what is
// built on it: the runtime, the co-signer, the CLI) may link them.
var drivers = map[string]string{
	"gorm.io/...":                 "the ORM and its drivers belong to memory",
	"github.com/glebarez/...":     "the SQLite driver belongs to memory",
	"modernc.org/sqlite/...":      "SQLite belongs to memory",
	"github.com/jackc/pgx/...":    "the PostgreSQL driver belongs to memory",
	"github.com/jackc/pgx/v5/...": "the PostgreSQL driver belongs to memory",
	"github.com/lib/pq/...":       "the PostgreSQL driver belongs to memory",
}

// notInLibrary is what no library package links.
var notInLibrary = map[string]string{
	"testing": "test support belongs in test files and the *test packages",
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// The layers of the design's "Packages" table: a package may link the rows
// above it, never one below, and some rows name exactly what they may
// import. Each rule lists, of this module, what the row may link (its own
// packages always); anything else of ours fails, with the import chain
// that brought it in.
var layers = []deptest.Rule{
	// policies: nothing of ours but small leaf types.
	{Pkg: module + "/policies/...", MayLink: ours("internal/..."), BadDeps: notInLibrary},
	// chains/evm: policies. Its subpackages: chains/evm and policies.
	{Pkg: module + "/chains/evm", MayLink: ours("policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/chains/evm/tokenlist", MayLink: ours("chains/evm", "policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/chains/evm/uniswap", MayLink: ours("chains/evm", "policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/chains/evm/safe/...", MayLink: ours("chains/evm", "policies", "internal/..."), BadDeps: drivers},
	{Pkg: module + "/chains/evm/devnet/...", MayLink: ours("chains/evm/...", "policies", "internal/..."), BadDeps: drivers},
	{Pkg: module + "/chains/...", MayLink: ours("chains/...", "policies", "internal/..."), BadDeps: drivers},
	// orders: policies.
	{Pkg: module + "/orders", MayLink: ours("policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/orders/...", MayLink: ours("policies", "internal/..."), BadDeps: drivers},
	// llm: langchaingo, nothing of ours ("llm knows no chain").
	{Pkg: module + "/llm", MayLink: nil, BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/llm/...", MayLink: nil, BadDeps: drivers},
	// memory: gorm, under the rows above it; never the tools, the agent, a
	// model or the co-signer (whose store it keeps in its own types).
	{Pkg: module + "/memory", MayLink: ours("policies", "chains/...", "orders", "internal/..."), BadDeps: notInLibrary},
	{Pkg: module + "/memory/...", MayLink: ours("policies", "chains/...", "orders", "internal/...")},
	// tools: chains, policies (and orders, a row above, for tools/dex).
	// The base package holds the interfaces every kit and the agent share,
	// so it links no chain and no store.
	{Pkg: module + "/tools", MayLink: ours("policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/tools/...", MayLink: ours("policies", "chains/...", "orders", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	// agent: llm, tools, policies. It owns its message type and links no
	// store, no chain client, no co-signer and no Safe code: a program
	// that imports it to run a model with tools pays for nothing else.
	{Pkg: module + "/agent", MayLink: ours("llm", "tools", "policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	// metrics: the collectors, fed through the observer hooks of the rows
	// above; it reads only the model backends' health itself.
	{Pkg: module + "/metrics", MayLink: ours("llm"), BadDeps: merge(drivers, notInLibrary)},
	// The runtime: everything above it, none of the front ends or the
	// co-signer below it.
	// mcp/remote: other servers' tools as read-only tools; nothing that signs.
	{Pkg: module + "/mcp/remote", MayLink: ours("tools", "policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module, MayLink: ours("policies", "chains/...", "orders", "llm/...", "memory", "tools/...", "agent", "metrics", "mcp/remote", "internal/..."), BadDeps: notInLibrary},
	// mcp: a front end, like the bots: the runtime and everything above it.
	{Pkg: module + "/mcp", MayLink: append([]string{module}, ours("policies", "chains/...", "orders", "llm/...", "memory", "tools/...", "agent", "metrics", "mcp/remote", "internal/...")...), BadDeps: notInLibrary},
	{Pkg: module + "/mcp/mcptest", MayLink: ours("chains/...", "policies", "internal/...")},
	// The front ends: the runtime and everything above it. Their shared
	// pieces (scheduling, markup, charts) link nothing of ours.
	{Pkg: module + "/bots/sched/...", MayLink: nil, BadDeps: drivers},
	{Pkg: module + "/bots/markup", MayLink: nil, BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/bots/charts", MayLink: nil, BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/bots/flood", MayLink: nil, BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/bots/internal/...", MayLink: nil, BadDeps: drivers},
	// What the bots share about tools and decisions: no runtime, no chain.
	{Pkg: module + "/bots/access", MayLink: ours("tools", "policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/bots/render", MayLink: ours("tools", "policies", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	{Pkg: module + "/bots/stream", MayLink: ours("agent", "llm", "tools", "policies", "bots/access", "bots/render", "internal/..."), BadDeps: merge(drivers, notInLibrary)},
	// Approvals settled once in the database, whichever process asked.
	{Pkg: module + "/bots/approval", MayLink: ours("memory", "policies", "chains/...", "orders", "bots/render", "tools", "internal/...")},
	{Pkg: module + "/bots/telegram/...", MayLink: append([]string{module}, ours("bots/...", "policies", "chains/...", "orders", "llm/...", "memory", "tools/...", "agent", "metrics", "mcp/remote", "internal/...")...)},
	{Pkg: module + "/bots/discord/...", MayLink: append([]string{module}, ours("bots/...", "policies", "chains/...", "orders", "llm/...", "memory", "tools/...", "agent", "metrics", "mcp/remote", "internal/...")...)},
	// cosigner: chains/evm/safe, policies, memory; it never asks a model.
	{Pkg: module + "/cosigner", MayLink: ours("chains/...", "policies", "memory", "orders", "internal/..."), BadDeps: notInLibrary},
	{Pkg: module + "/cosigner/...", MayLink: ours("chains/...", "policies", "memory/...", "orders", "internal/...")},
}

func TestLayers(t *testing.T) {
	g := deptest.Load(t, "", module+"/...")
	for _, r := range layers {
		name := strings.TrimPrefix(r.Pkg[len(module):], "/")
		if name == "" {
			name = "root"
		}
		t.Run(name, func(t *testing.T) {
			r.Within = module
			g.Check(t, r)
		})
	}
}

// TestAgentLinksNoStore names what agent must not link one by one, so a
// failure reads as the issue it would be.
func TestAgentLinksNoStore(t *testing.T) {
	g := deptest.Load(t, "", module+"/agent")
	g.Check(t, deptest.Rule{Pkg: module + "/agent", BadDeps: merge(drivers, map[string]string{
		module + "/memory":          "agent owns its message type; mandate.ChatMemory adapts memory to it",
		module + "/cosigner/...":    "the co-signer is a service of its own",
		module + "/chains/evm/safe": "Safe code is for the multisig tools and the co-signer",
	})})
}
