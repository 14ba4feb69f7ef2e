package discord

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPieces(t *testing.T) {
	long := escape(strings.Repeat("a*b_c ", 700) + "\n" + strings.Repeat("é", 2500))
	for _, tc := range []struct {
		name string
		in   string
		n    int
	}{
		{"short", "hello", maxContent},
		{"empty", "", maxContent},
		{"escaped and long", long, maxContent},
		{"backslashes at every cut", strings.Repeat(`\*`, 3000), 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts := pieces(tc.in, tc.n)
			if strings.Join(parts, "") != tc.in {
				t.Fatalf("the parts do not add up to the text")
			}
			for i, p := range parts {
				if utf8.RuneCountInString(p) > tc.n {
					t.Fatalf("part %d has %d characters, over %d", i, utf8.RuneCountInString(p), tc.n)
				}
				if trailing(p)%2 == 1 {
					t.Fatalf("part %d ends in an escaping backslash: %q", i, p[max(0, len(p)-10):])
				}
			}
		})
	}
}
