package llm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/llm"
)

// clearEnv unsets every variable the presets read, so the developer's own
// keys do not leak into the test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, p := range llm.Presets() {
		t.Setenv(p.KeyEnv, "")
	}
	for _, v := range []string{llm.EnvBaseURL, llm.EnvAPIKey, llm.EnvModel, llm.EnvBackends, llm.EnvEmbeddingModel} {
		t.Setenv(v, "")
	}
}

func TestPresetsTable(t *testing.T) {
	want := []string{"ionet", "akash", "morpheus", "inference", "chutes", "targon", "hyperbolic", "venice", "atoma", "vllm", "ollama", "openai-compatible"}
	ps := llm.Presets()
	if len(ps) != len(want) {
		t.Fatalf("%d presets, want %d", len(ps), len(want))
	}
	for i, p := range ps {
		if p.Name != want[i] {
			t.Errorf("preset %d is %q, want %q", i, p.Name, want[i])
		}
		if p.KeyEnv == "" || p.Title == "" {
			t.Errorf("%s: incomplete %+v", p.Name, p)
		}
		if p.Name != llm.PresetCustom && (!strings.HasSuffix(p.BaseURL, "/v1") || p.Model == "") {
			t.Errorf("%s: base URL %q model %q", p.Name, p.BaseURL, p.Model)
		}
	}
	if ps[0].KeyEnv != "IOINTELLIGENCE_API_KEY" {
		t.Errorf("ionet key variable %q", ps[0].KeyEnv)
	}
}

func TestPresetKey(t *testing.T) {
	clearEnv(t)
	_, err := llm.Preset("ionet")
	var mk *llm.MissingKeyError
	if !errors.As(err, &mk) || mk.Env != "IOINTELLIGENCE_API_KEY" || !strings.Contains(err.Error(), "IOINTELLIGENCE_API_KEY") {
		t.Fatalf("err = %v, want a MissingKeyError naming IOINTELLIGENCE_API_KEY", err)
	}
	t.Setenv("IOINTELLIGENCE_API_KEY", "k1")
	b, err := llm.Preset("ionet")
	if err != nil || b.APIKey != "k1" || b.Name != "ionet" || !b.Tools || b.Model == "" {
		t.Fatalf("%+v, %v", b, err)
	}
	b, err = llm.Preset("ionet:deepseek-ai/DeepSeek-R1")
	if err != nil || b.Model != "deepseek-ai/DeepSeek-R1" {
		t.Fatalf("model override: %+v, %v", b, err)
	}
	// Local servers need no key.
	b, err = llm.Preset("ollama:qwen2.5:7b")
	if err != nil || b.BaseURL != "http://127.0.0.1:11434/v1" || b.Model != "qwen2.5:7b" || b.APIKey != "" {
		t.Fatalf("ollama: %+v, %v", b, err)
	}
	if b, err := llm.Preset("vllm"); err != nil || b.BaseURL != "http://127.0.0.1:8000/v1" {
		t.Fatalf("vllm: %+v, %v", b, err)
	}
	if _, err := llm.Preset("nosuch"); !errors.Is(err, llm.ErrUnknownPreset) {
		t.Fatalf("err = %v", err)
	}
}

func TestPresetCustom(t *testing.T) {
	clearEnv(t)
	if _, err := llm.Preset("openai-compatible"); err == nil || !strings.Contains(err.Error(), llm.EnvBaseURL) {
		t.Fatalf("err = %v, want one naming %s", err, llm.EnvBaseURL)
	}
	t.Setenv(llm.EnvBaseURL, "http://127.0.0.1:9000/v1")
	if _, err := llm.Preset("custom"); err == nil || !strings.Contains(err.Error(), llm.EnvModel) {
		t.Fatalf("err = %v, want one naming %s", err, llm.EnvModel)
	}
	t.Setenv(llm.EnvModel, "m")
	t.Setenv(llm.EnvAPIKey, "secret")
	b, err := llm.Preset("custom")
	if err != nil || b.Name != llm.PresetCustom || b.BaseURL != "http://127.0.0.1:9000/v1" || b.Model != "m" || b.APIKey != "secret" {
		t.Fatalf("%+v, %v", b, err)
	}
}

func names(bs []llm.Backend) string {
	var s []string
	for _, b := range bs {
		s = append(s, b.Name)
	}
	return strings.Join(s, ",")
}

func TestFromEnv(t *testing.T) {
	clearEnv(t)
	bs, err := llm.FromEnv()
	if err != nil || len(bs) != 0 {
		t.Fatalf("nothing configured: %v, %v", bs, err)
	}

	t.Setenv("IOINTELLIGENCE_API_KEY", "k1")
	t.Setenv("AKASHML_API_KEY", "k2")
	t.Setenv(llm.EnvBackends, " ionet, akash ,ionet")
	if bs, err = llm.FromEnv(); err != nil || names(bs) != "ionet,akash" {
		t.Fatalf("%s, %v", names(bs), err)
	}

	t.Setenv(llm.EnvBaseURL, "http://127.0.0.1:9000/v1")
	t.Setenv(llm.EnvModel, "m")
	if bs, err = llm.FromEnv(); err != nil || names(bs) != "openai-compatible,ionet,akash" {
		t.Fatalf("custom goes first: %s, %v", names(bs), err)
	}
	t.Setenv(llm.EnvBackends, "ionet,openai-compatible")
	if bs, err = llm.FromEnv(); err != nil || names(bs) != "ionet,openai-compatible" {
		t.Fatalf("custom placed by name: %s, %v", names(bs), err)
	}

	t.Setenv(llm.EnvBackends, "ionet,venice,bogus")
	bs, err = llm.FromEnv()
	if !errors.Is(err, llm.ErrUnknownPreset) || !strings.Contains(err.Error(), "VENICE_API_KEY") {
		t.Fatalf("every problem reported: %v", err)
	}
	var mk *llm.MissingKeyError
	if !errors.As(err, &mk) || mk.Preset != "venice" {
		t.Fatalf("MissingKeyError not reachable: %v", err)
	}
	if names(bs) != "openai-compatible,ionet" {
		t.Fatalf("usable backends still returned: %s", names(bs))
	}
}

func TestPresetEmbeddingModels(t *testing.T) {
	clearEnv(t)
	for _, p := range llm.Presets() {
		want := ""
		if p.Name == "morpheus" {
			want = "text-embedding-bge-m3"
		}
		if p.EmbeddingModel != want {
			t.Errorf("%s: EmbeddingModel %q, want %q", p.Name, p.EmbeddingModel, want)
		}
	}
	t.Setenv("MORPHEUS_API_KEY", "k")
	if b, err := llm.Preset("morpheus:other-chat-model"); err != nil || b.EmbeddingModel != "text-embedding-bge-m3" {
		t.Errorf("morpheus: %+v, %v", b, err)
	}

	t.Setenv(llm.EnvBaseURL, "http://127.0.0.1:8000/v1")
	t.Setenv(llm.EnvModel, "m")
	if b, err := llm.Preset(llm.PresetCustom); err != nil || b.EmbeddingModel != "" {
		t.Errorf("custom without %s: %+v, %v", llm.EnvEmbeddingModel, b, err)
	}
	t.Setenv(llm.EnvEmbeddingModel, " bge-m3 ")
	if b, err := llm.Preset(llm.PresetCustom); err != nil || b.EmbeddingModel != "bge-m3" {
		t.Errorf("custom with %s: %+v, %v", llm.EnvEmbeddingModel, b, err)
	}
}
