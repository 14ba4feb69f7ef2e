package llm

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// PresetInfo describes a known OpenAI-compatible backend. The base URLs and
// default models are as documented by each provider when this table was
// written; providers move them, so each can be replaced without a release:
// point MANDATE_LLM_BASE_URL (with MANDATE_LLM_API_KEY, MANDATE_LLM_MODEL)
// at the endpoint instead, or pick another model per preset with
// "name:model" in MANDATE_LLM_BACKENDS.
type PresetInfo struct {
	Name    string // what MANDATE_LLM_BACKENDS and Preset take
	Title   string // the provider and network, for tables
	BaseURL string // up to and including the version path
	KeyEnv  string // environment variable holding the API key
	// KeyOptional: the backend works without a key (a local server); the
	// variable is sent when set.
	KeyOptional bool
	Model       string // default model id
	Tools       bool   // the default model answers with tool calls
	// EmbeddingModel is the model id for {BaseURL}/embeddings, set only
	// where the provider is known to serve embeddings; empty otherwise.
	EmbeddingModel string
}

// Names of the backends built from the MANDATE_LLM_* variables rather than
// from the table.
const (
	PresetCustom      = "openai-compatible"
	presetCustomAlias = "custom"
)

// Environment variables of the custom backend (and of FromEnv).
const (
	EnvBaseURL  = "MANDATE_LLM_BASE_URL"
	EnvAPIKey   = "MANDATE_LLM_API_KEY"
	EnvModel    = "MANDATE_LLM_MODEL"
	EnvBackends = "MANDATE_LLM_BACKENDS"
	// EnvEmbeddingModel is the custom backend's embedding model; unset, it
	// offers no embeddings.
	EnvEmbeddingModel = "MANDATE_LLM_EMBEDDING_MODEL"
)

// presets is the table. Every base URL and default model is as documented
// by the provider; override with MANDATE_LLM_BASE_URL / MANDATE_LLM_MODEL
// (or "name:model" in MANDATE_LLM_BACKENDS) when a provider changes them.
// Tools is true only where the default model is documented to return
// OpenAI-style tool calls on that network; a backend without it still
// answers plain questions but never a step that carries tools.
var presets = []PresetInfo{
	{
		// io.net Intelligence: inference on io.net's decentralized GPU cloud.
		// As documented by the provider; override with MANDATE_LLM_BASE_URL / MANDATE_LLM_MODEL.
		Name: "ionet", Title: "io.net Intelligence",
		BaseURL: "https://api.intelligence.io.solutions/api/v1", KeyEnv: "IOINTELLIGENCE_API_KEY",
		Model: "meta-llama/Llama-3.3-70B-Instruct", Tools: true,
	},
	{
		// AkashML: managed inference on the Akash Network.
		// As documented by the provider; override with MANDATE_LLM_BASE_URL / MANDATE_LLM_MODEL.
		Name: "akash", Title: "AkashML (Akash Network)",
		BaseURL: "https://api.akashml.com/v1", KeyEnv: "AKASHML_API_KEY",
		Model: "MiniMaxAI/MiniMax-M2.5", Tools: true,
	},
	{
		// Morpheus: the Morpheus compute marketplace's hosted API gateway,
		// OpenAI-compatible with tool calls. As documented by the provider;
		// override the model with MANDATE_LLM_BACKENDS=morpheus:MODEL.
		Name: "morpheus", Title: "Morpheus API Gateway",
		BaseURL: "https://api.mor.org/api/v1", KeyEnv: "MORPHEUS_API_KEY",
		Model: "mistral-31-24b", Tools: true,
		EmbeddingModel: "text-embedding-bge-m3",
	},
	{
		// inference.net: a distributed GPU inference network. Its docs call
		// function calling beta in one place and available in another, so
		// tool steps do not go here until they agree.
		Name: "inference", Title: "inference.net",
		BaseURL: "https://api.inference.net/v1", KeyEnv: "INFERENCE_API_KEY",
		Model: "meta-llama/llama-3.3-70b-instruct/fp-8", Tools: false,
	},
	{
		// Chutes: serverless inference on Bittensor subnet 64.
		// As documented by the provider; override with MANDATE_LLM_BASE_URL / MANDATE_LLM_MODEL.
		Name: "chutes", Title: "Chutes (Bittensor SN64)",
		BaseURL: "https://llm.chutes.ai/v1", KeyEnv: "CHUTES_API_KEY",
		Model: "Qwen/Qwen3-32B-TEE", Tools: true,
	},
	{
		// Targon: inference on Bittensor subnet 4 (Manifold Labs). Unverified:
		// the provider's docs we could read cover accounts only; the base URL
		// and model are the ones its public clients use. No tool steps.
		Name: "targon", Title: "Targon (Bittensor SN4)",
		BaseURL: "https://api.targon.com/v1", KeyEnv: "TARGON_API_KEY",
		Model: "deepseek-ai/DeepSeek-V3", Tools: false,
	},
	{
		// Hyperbolic: an open-access GPU marketplace with serverless inference.
		// Base URL and model as documented; its docs do not document tool
		// calls, so tool steps do not go here.
		Name: "hyperbolic", Title: "Hyperbolic",
		BaseURL: "https://api.hyperbolic.xyz/v1", KeyEnv: "HYPERBOLIC_API_KEY",
		Model: "meta-llama/Llama-3.3-70B-Instruct", Tools: false,
	},
	{
		// Venice: private, uncensored inference on decentralized GPUs.
		// As documented by the provider; override with MANDATE_LLM_BASE_URL / MANDATE_LLM_MODEL.
		Name: "venice", Title: "Venice",
		BaseURL: "https://api.venice.ai/api/v1", KeyEnv: "VENICE_API_KEY",
		Model: "zai-org-glm-5", Tools: true,
	},
	{
		// Atoma: inference in confidential compute on the Atoma network (Sui).
		// Model as in its API reference; the base URL is the one its public
		// clients use (not on a provider page we could read). No tool steps
		// until its tool support is documented beyond the request schema.
		Name: "atoma", Title: "Atoma Network",
		BaseURL: "https://api.atoma.network/v1", KeyEnv: "ATOMA_API_KEY",
		Model: "meta-llama/Llama-3.3-70B-Instruct", Tools: false,
	},
	{
		// A local vLLM server (`vllm serve MODEL`); its --api-key is optional.
		// Override with MANDATE_LLM_BASE_URL / MANDATE_LLM_MODEL or "vllm:MODEL".
		Name: "vllm", Title: "vLLM (local)",
		BaseURL: "http://127.0.0.1:8000/v1", KeyEnv: "VLLM_API_KEY", KeyOptional: true,
		Model: "Qwen/Qwen2.5-7B-Instruct", Tools: true,
	},
	{
		// A local Ollama server; it needs no key.
		// Override with MANDATE_LLM_BASE_URL / MANDATE_LLM_MODEL or "ollama:MODEL".
		Name: "ollama", Title: "Ollama (local)",
		BaseURL: "http://127.0.0.1:11434/v1", KeyEnv: "OLLAMA_API_KEY", KeyOptional: true,
		Model: "llama3.1", Tools: true,
	},
}

// customPreset describes the backend built from MANDATE_LLM_*: any
// OpenAI-compatible server (a Nosana job's endpoint, a gateway, a preset
// whose URL moved). Its key is optional because local servers need none.
var customPreset = PresetInfo{
	Name: PresetCustom, Title: "OpenAI-compatible (" + EnvBaseURL + ")",
	KeyEnv: EnvAPIKey, KeyOptional: true, Tools: true,
}

// ErrUnknownPreset is wrapped by Preset and FromEnv for a name not in the
// table.
var ErrUnknownPreset = errors.New("llm: unknown backend preset")

// MissingKeyError says which environment variable a preset needs.
// The CLI branches on it to tell the user what to export.
type MissingKeyError struct {
	Preset string
	Env    string
}

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("llm backend %s needs an API key: set %s", e.Preset, e.Env)
}

// Presets lists the known backends in table order, the custom backend last.
func Presets() []PresetInfo {
	out := make([]PresetInfo, 0, len(presets)+1)
	out = append(out, presets...)
	return append(out, customPreset)
}

// presetByName finds a preset (or the custom backend) by name.
func presetByName(name string) (PresetInfo, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == PresetCustom || name == presetCustomAlias {
		return customPreset, true
	}
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return PresetInfo{}, false
}

// Preset returns the Backend for a known provider, with its key read from
// the provider's variable (IOINTELLIGENCE_API_KEY for "ionet", …). A name may carry
// a model, "name:model" ("ollama:qwen2.5:7b"), replacing the default one.
// "openai-compatible" (or "custom") is the backend described by
// MANDATE_LLM_BASE_URL, MANDATE_LLM_API_KEY and MANDATE_LLM_MODEL, with
// embeddings from MANDATE_LLM_EMBEDDING_MODEL when it is set.
//
// A preset whose key variable is unset fails with a *MissingKeyError naming
// the variable, so that a misspelt export is found at start-up rather than
// as a 401 in the middle of a conversation.
func Preset(name string) (Backend, error) {
	b, err := SpecFromEnv().preset(name)
	return b, envAdvice(err)
}

// Errors of a Spec's custom backend that lacks what it needs.
var (
	ErrNoBaseURL = errors.New("needs a base URL")
	ErrNoModel   = errors.New("needs a model id")
)

// Spec says which backends to build, as values: what the MANDATE_LLM_*
// variables hold for FromEnv, or what an embedder's configuration says.
type Spec struct {
	// Backends are preset names in failover order, each optionally
	// "name:model"; "openai-compatible" places the custom backend.
	Backends []string
	// The custom ("openai-compatible") backend; it comes first when
	// BaseURL is set and Backends does not place it.
	BaseURL, APIKey, Model, EmbeddingModel string
	// Key returns a preset's API key given the name of its variable
	// (PresetInfo.KeyEnv); nil reads the environment.
	Key func(env string) string
}

// SpecFromEnv is the Spec the MANDATE_LLM_* variables describe.
func SpecFromEnv() Spec {
	s := Spec{
		BaseURL:        strings.TrimSpace(os.Getenv(EnvBaseURL)),
		APIKey:         strings.TrimSpace(os.Getenv(EnvAPIKey)),
		Model:          strings.TrimSpace(os.Getenv(EnvModel)),
		EmbeddingModel: strings.TrimSpace(os.Getenv(EnvEmbeddingModel)),
	}
	for _, n := range strings.Split(os.Getenv(EnvBackends), ",") {
		if n = strings.TrimSpace(n); n != "" {
			s.Backends = append(s.Backends, n)
		}
	}
	return s
}

func (s Spec) key(env string) string {
	if s.Key != nil {
		return strings.TrimSpace(s.Key(env))
	}
	return strings.TrimSpace(os.Getenv(env))
}

func (s Spec) preset(name string) (Backend, error) {
	name, model, _ := strings.Cut(strings.TrimSpace(name), ":")
	p, ok := presetByName(name)
	if !ok {
		return Backend{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownPreset, name, strings.Join(presetNames(), ", "))
	}
	b := Backend{Name: p.Name, BaseURL: p.BaseURL, Model: p.Model, Tools: p.Tools, EmbeddingModel: p.EmbeddingModel}
	if p.Name == PresetCustom {
		b.BaseURL, b.Model, b.EmbeddingModel = s.BaseURL, s.Model, s.EmbeddingModel
		if b.BaseURL == "" {
			return Backend{}, fmt.Errorf("llm backend %s %w (e.g. http://127.0.0.1:8000/v1)", PresetCustom, ErrNoBaseURL)
		}
	}
	if model != "" {
		b.Model = model
	}
	if b.Model == "" {
		return Backend{}, fmt.Errorf("llm backend %s %w", p.Name, ErrNoModel)
	}
	if p.Name == PresetCustom {
		b.APIKey = s.APIKey
		return b, nil
	}
	b.APIKey = s.key(p.KeyEnv)
	if b.APIKey == "" && !p.KeyOptional {
		return Backend{}, &MissingKeyError{Preset: p.Name, Env: p.KeyEnv}
	}
	return b, nil
}

// envAdvice names the MANDATE_LLM_* variable that would fix err, for the
// functions that read them.
func envAdvice(err error) error {
	switch {
	case errors.Is(err, ErrNoBaseURL):
		return fmt.Errorf("%w: set %s", err, EnvBaseURL)
	case errors.Is(err, ErrNoModel):
		return fmt.Errorf("%w: set %s, or name one as \"name:model\" in %s", err, EnvModel, EnvBackends)
	}
	return err
}

func presetNames() []string {
	names := make([]string, 0, len(presets)+1)
	for _, p := range presets {
		names = append(names, p.Name)
	}
	return append(names, PresetCustom)
}

// FromEnv builds the backends the MANDATE_LLM_* variables configure (see
// Backends and SpecFromEnv); with none set it returns no backends and no
// error: the caller then uses the offline model. Its errors name the
// variable to fix.
func FromEnv() ([]Backend, error) {
	bs, err := Backends(SpecFromEnv())
	if err != nil {
		var errs []error
		if j, ok := errors.Unwrap(err).(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				errs = append(errs, envAdvice(e))
			}
			return bs, fmt.Errorf("llm: configured backends: %w", errors.Join(errs...))
		}
	}
	return bs, err
}

// Backends builds s's backends in failover order: the custom backend first
// when its base URL is set (unless Backends places it), then the named
// presets. With nothing configured it returns no backends and no error.
// Every problem (unknown name, missing key) is reported at once, joined, so
// that one run shows them all.
func Backends(s Spec) ([]Backend, error) {
	names := append([]string(nil), s.Backends...)
	listsCustom := false
	for _, n := range names {
		if base, _, _ := strings.Cut(n, ":"); base == PresetCustom || base == presetCustomAlias {
			listsCustom = true
		}
	}
	if s.BaseURL != "" && !listsCustom {
		names = append([]string{PresetCustom}, names...)
	}
	var (
		out  []Backend
		errs []error
		seen = map[string]bool{}
	)
	for _, n := range names {
		b, err := s.preset(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[b.Name] {
			continue // listed twice: the first position decides the order
		}
		seen[b.Name] = true
		out = append(out, b)
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("llm: configured backends: %w", err)
	}
	return out, nil
}
