package mandate

import (
	"context"
	"log/slog"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/offline"
)

// openAgent builds the model and the agent over the tools, with the
// conversations kept in the database.
func (rt *Runtime) openAgent(context.Context) error {
	if err := rt.openModel(); err != nil {
		return err
	}
	opts := []agent.Option{agent.WithMemory(ChatMemory(rt.chats.Chats())), agent.WithLogger(rt.log)}
	if rt.cfg.Approver != nil {
		opts = append(opts, agent.WithApprover(rt.cfg.Approver))
	}
	if r, routed := rt.model.(*llm.Router); routed {
		opts = append(opts, agent.WithSummarizer(agent.ModelSummary(r)))
		if m := r.EmbeddingModel(); m != "" {
			opts = append(opts, agent.WithEmbedder(r, m))
		}
	}
	rt.agent = agent.New(rt.model, rt.reg, opts...)
	return nil
}

// openModel is Config.Model, or a router over the configured backends
// with the offline intent model last (when every backend is down, the core
// commands still work), or the offline model alone when none is
// configured.
func (rt *Runtime) openModel() (err error) {
	rt.model, rt.modelName, err = NewModel(rt.cfg)
	return err
}

// NewModel is the model a runtime of cfg runs: Config.Model, or a router
// over the configured backends with the offline intent model last, or the
// offline model alone when none is configured; and its name for people.
func NewModel(cfg Config) (llms.Model, string, error) {
	if cfg.Model != nil {
		return cfg.Model, "configured model", nil
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	spec := llm.Spec{BaseURL: cfg.LLM.BaseURL, APIKey: cfg.LLM.APIKey, Model: cfg.LLM.Model, EmbeddingModel: cfg.LLM.EmbeddingModel}
	for _, n := range strings.Split(cfg.LLM.Backends, ",") {
		if n = strings.TrimSpace(n); n != "" {
			spec.Backends = append(spec.Backends, n)
		}
	}
	backends, err := llm.Backends(spec)
	if err != nil {
		return nil, "", configErr("llm", err)
	}
	if len(backends) == 0 {
		return offline.New(), "offline (no backend configured)", nil
	}
	names := make([]string, len(backends))
	for i, b := range backends {
		names[i] = b.Name
	}
	routes := append(llm.RouteAll(backends), llm.Named{Name: "offline", Model: offline.New(), Tools: true})
	return llm.NewRouter(routes, llm.WithRouterLogger(logger)), strings.Join(names, ", ") + ", then offline", nil
}
