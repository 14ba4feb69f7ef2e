package main

import (
	"context"
	"fmt"
	"github.com/mandatehq/mandate"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
)

func newLLMCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "llm",
		Short: "The LLM backends: health table, one prompt through the router",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "backends",
		Short: "Probe each configured backend: health, latency to first token, last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			model, _, err := mandate.NewModel(cfg)
			if err != nil {
				return err
			}
			r, ok := model.(*llm.Router)
			if !ok {
				if g.json {
					writeJSON(g.stdout, map[string]any{"backends": []any{}, "offline": true})
					return nil
				}
				fmt.Fprintln(g.stdout, "No LLM backend is configured: the offline intent model answers the core commands.")
				fmt.Fprintln(g.stdout, "Set MANDATE_LLM_BACKENDS to preset names (with their key variables) or MANDATE_LLM_BASE_URL:")
				for _, p := range llm.Presets() {
					fmt.Fprintf(g.stdout, "  %-12s %s\n", p.Name, p.KeyEnv)
				}
				return nil
			}
			health := r.Probe(cmd.Context())
			if g.json {
				writeJSON(g.stdout, map[string]any{"backends": health})
				return nil
			}
			fmt.Fprintf(g.stdout, "%-12s %-14s %-10s %-10s %s\n", "BACKEND", "STATE", "FIRST-TOK", "P95", "LAST ERROR")
			for _, h := range health {
				fmt.Fprintf(g.stdout, "%-12s %-14s %-10s %-10s %s\n", h.Name, h.State, h.P50, h.P95, oneLine(h.LastError))
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "ask TEXT",
		Short: "Send one prompt through the router (or the offline model) and print the answer",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			model, _, err := mandate.NewModel(cfg)
			if err != nil {
				return err
			}
			prompt := strings.Join(args, " ")
			streamed := false
			resp, err := model.GenerateContent(cmd.Context(), []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, prompt)},
				llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
					if !g.json {
						streamed = true
						_, err := g.stdout.Write(chunk)
						return err
					}
					return nil
				}))
			if err != nil {
				return err
			}
			text := ""
			if len(resp.Choices) > 0 {
				text = resp.Choices[0].Content
			}
			if g.json {
				writeJSON(g.stdout, map[string]any{"ok": true, "text": text})
				return nil
			}
			if !streamed {
				fmt.Fprint(g.stdout, text)
			}
			fmt.Fprintln(g.stdout)
			return nil
		},
	})
	return cmd
}
