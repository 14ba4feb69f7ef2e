package telegram

import (
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	long := strings.Repeat("a", 5000)
	lines := strings.Repeat(strings.Repeat("b", 99)+"\n", 60) // 6,000 characters in lines of 100
	emoji := strings.Repeat("😀", 3000)                        // two UTF-16 units each
	for _, tc := range []struct {
		name  string
		in    string
		parts int
	}{
		{"short", "hello", 1},
		{"empty", "", 1},
		{"exactly the limit", strings.Repeat("c", maxText), 1},
		{"one over", long, 2},
		{"at line ends", lines, 2},
		{"astral runes", emoji, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := split(tc.in)
			if len(got) != tc.parts {
				t.Fatalf("%d parts, want %d", len(got), tc.parts)
			}
			if strings.Join(got, "") != tc.in {
				t.Fatal("the parts do not add up to the text")
			}
			for i, p := range got {
				if n := utf16Len(p); n > maxText {
					t.Fatalf("part %d is %d UTF-16 units, over %d", i, n, maxText)
				}
			}
			if tc.name == "at line ends" && !strings.HasSuffix(got[0], "\n") {
				t.Fatalf("the first part does not end at a line end: %q", got[0][len(got[0])-20:])
			}
		})
	}
}

func TestMention(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int
	}{
		{"@mandate_bot price of ETH", 0},
		{"hey @Mandate_Bot, price?", 4},
		{"@mandate_bot2 price", -1},
		{"mail me at x@mandate_bot", -1},
		{"no mention", -1},
		{"@mandate_bo", -1},
	} {
		if got := mention(tc.text, "@mandate_bot"); got != tc.want {
			t.Errorf("mention(%q) = %d, want %d", tc.text, got, tc.want)
		}
	}
}
