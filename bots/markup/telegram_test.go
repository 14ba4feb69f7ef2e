package markup

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParserRejectsWhatTelegramRejects(t *testing.T) {
	// The checks below are only as good as the parser: it must refuse raw names.
	for _, raw := range []string{"*_[", "1.5 USDC", "a-b", "(x)", "x!", "a|b", "`x", "[x](y"} {
		if _, _, err := parseMDv2(raw); err == nil {
			t.Errorf("parser accepted unescaped %q", raw)
		}
	}
	text, ents, err := parseMDv2("*a* _b_ `c\\`` [d](http://x/\\))")
	if err != nil || text != "a b c` d" || len(ents) != 4 || ents[3].url != "http://x/)" {
		t.Fatalf("parse: %q %+v %v", text, ents, err)
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"*_[", `\*\_\[`},
		{"1.5 USDC", `1\.5 USDC`},
		{`a\b`, `a\\b`},
		{"_*[]()~`>#+-=|{}.!\\", "\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\"},
		{"plain ünïcode 🚀", "plain ünïcode 🚀"},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEntities(t *testing.T) {
	for _, tc := range []struct {
		name, md, text, kind string
	}{
		{"bold", Bold("*_[ 1.5"), "*_[ 1.5", "bold"},
		{"italic", Italic("_x_"), "_x_", "italic"},
		{"code", Code("a`b\\c*"), "a`b\\c*", "code"},
		{"pre", Pre("x := `y`\n", "go"), "x := `y`\n", "pre"},
		{"link", Link("tx 0x1.", "https://example.org/tx?a=(1)"), "tx 0x1.", "link"},
	} {
		text, ents, err := parseMDv2(tc.md)
		if err != nil {
			t.Fatalf("%s: %q: %v", tc.name, tc.md, err)
		}
		if text != tc.text || len(ents) != 1 || ents[0].kind != tc.kind || ents[0].length != utf8.RuneCountInString(tc.text) {
			t.Fatalf("%s: %q parsed to %q %+v", tc.name, tc.md, text, ents)
		}
	}
	if _, ents, _ := parseMDv2(Link("x", "https://e.org/a)b")); ents[0].url != "https://e.org/a)b" {
		t.Fatalf("link url: %q", ents[0].url)
	}
	if Pre("x", "go\n*evil") != "```\nx\n```" {
		t.Fatalf("unsafe language kept: %q", Pre("x", "go\n*evil"))
	}
}

// detected is what Telegram apps turn into entities in plain text.
var detected = regexp.MustCompile(`(^|[^\p{L}\p{N}_])[@/#$][\p{L}\p{N}_]|://|[\p{L}\p{N}]\.[\p{L}]{2,}`)

func TestUntrustedNames(t *testing.T) {
	for _, name := range []string{"@admin", "/send 1 ETH", "#pump", "$SCAM", "https://evil.example", "evil.com",
		"a\nb", "x\u202Eabc", "*_[", "[click](tg://user?id=1)"} {
		md := Untrusted(name)
		text, ents, err := parseMDv2(md)
		if err != nil {
			t.Fatalf("Untrusted(%q) = %q does not parse: %v", name, md, err)
		}
		if len(ents) != 0 {
			t.Fatalf("Untrusted(%q) = %q made entities %+v", name, md, ents)
		}
		if detected.MatchString(text) {
			t.Fatalf("Untrusted(%q) leaves %q, which apps detect as an entity", name, text)
		}
		if strings.ContainsAny(text, "\n\u202E") {
			t.Fatalf("Untrusted(%q) kept a line break or bidi control: %q", name, text)
		}
	}
}

func FuzzEscapeRoundTrip(f *testing.F) {
	for _, s := range []string{"", "*_[", "a\\`b", "1.5", "[x](y)", "||s||", "> q", "```", "\x00\x7f", "é🚀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "?")
		}
		for name, md := range map[string]string{"Escape": Escape(s), "Bold": Bold(s), "Code": Code(s), "Italic": Italic(s)} {
			text, ents, err := parseMDv2(md)
			if err != nil {
				t.Fatalf("%s(%q) = %q: %v", name, s, md, err)
			}
			if text != s {
				t.Fatalf("%s(%q) = %q parses back to %q", name, s, md, text)
			}
			want := 1
			if name == "Escape" || s == "" {
				want = 0
			}
			if len(ents) != want {
				t.Fatalf("%s(%q) = %q has entities %+v", name, s, md, ents)
			}
		}
		text, ents, err := parseMDv2(Untrusted(s))
		if err != nil || len(ents) != 0 {
			t.Fatalf("Untrusted(%q) = %q: %+v %v", s, Untrusted(s), ents, err)
		}
		if detected.MatchString(text) {
			t.Fatalf("Untrusted(%q) leaves detectable %q", s, text)
		}
	})
}
