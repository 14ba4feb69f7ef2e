package markup

import (
	"strings"
	"testing"
)

func TestDiscordEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"*_~|>`", "\\*\\_\\~\\|\\>\\`"},
		{"**bold** __u__ ||spoiler||", "\\*\\*bold\\*\\* \\_\\_u\\_\\_ \\|\\|spoiler\\|\\|"},
		{"<@123> <#9> <@&7>", "\\<@123\\> \\<\\#9\\> \\<@&7\\>"},
		{"# heading", "\\# heading"},
		{"[x](https://e.org)", "\\[x\\]\\(https\\://e.org\\)"},
		{`a\b`, `a\\b`},
		{"plain", "plain"},
	} {
		if got := DiscordEscape(tc.in); got != tc.want {
			t.Errorf("DiscordEscape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDiscordMassMentions(t *testing.T) {
	for _, in := range []string{"@everyone", "hi @here", "@EveryOne", "x@hereafter"} {
		for name, out := range map[string]string{"escape": DiscordEscape(in), "code": DiscordCode(in), "bold": DiscordBold(in)} {
			low := strings.ToLower(out)
			if strings.Contains(low, "@everyone") || strings.Contains(low, "@here") {
				t.Errorf("%s(%q) = %q still pings", name, in, out)
			}
		}
	}
}

func TestDiscordCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0xabc", "`0xabc`"},
		{"a`b", "`` a`b ``"},
		{"a``b", "`aˋˋb`"},
		{"", ""},
	} {
		if got := DiscordCode(tc.in); got != tc.want {
			t.Errorf("DiscordCode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzDiscordEscape(f *testing.F) {
	for _, s := range []string{"*_[", "@everyone", "<@1>", "`", "\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := DiscordEscape(s)
		// Every markdown character in the output is escaped: walk it as Discord does.
		for i := 0; i < len(out); i++ {
			if out[i] == '\\' {
				i++
				if i >= len(out) || !strings.ContainsRune(discordReserved, rune(out[i])) {
					t.Fatalf("DiscordEscape(%q) = %q: stray backslash at %d", s, out, i-1)
				}
				continue
			}
			if strings.IndexByte(discordReserved, out[i]) >= 0 {
				t.Fatalf("DiscordEscape(%q) = %q: unescaped %q at %d", s, out, out[i], i)
			}
		}
		// Removing the escapes and the mention breakers gives back the input.
		var back strings.Builder
		for i := 0; i < len(out); i++ {
			if out[i] == '\\' {
				i++
			}
			back.WriteByte(out[i])
		}
		if got := strings.ReplaceAll(back.String(), "\u200b", ""); got != strings.ReplaceAll(s, "\u200b", "") {
			t.Fatalf("DiscordEscape(%q) = %q unescapes to %q", s, out, got)
		}
	})
}
