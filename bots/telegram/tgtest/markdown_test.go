package tgtest

import (
	"strings"
	"testing"
)

// Cases from Telegram's own parser tests (tdlib, test/message_entities.cpp), which define what
// MarkdownV2 means; tgtest must agree on the visible text and on the error.
func TestParseMarkdownV2AgreesWithTelegram(t *testing.T) {
	const reservedMsg = "is reserved and must be escaped with the preceding '\\'"
	for c := byte(1); c < 126; c++ {
		if strings.IndexByte("_*[~`>", c) >= 0 {
			continue
		}
		text, _, err := parseMarkdownV2(string(c))
		if strings.IndexByte("]()>#+-=|{}.!", c) < 0 {
			if err != nil || text != string(c) {
				t.Errorf("%q: %q, %v", c, text, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "Character '"+string(c)+"' "+reservedMsg) {
			t.Errorf("%q: %v, want reserved", c, err)
		}
		if text, _, err := parseMarkdownV2("\\" + string(c)); err != nil || text != string(c) {
			t.Errorf("escaped %q: %q, %v", c, text, err)
		}
	}
	errs := map[string]string{
		"🏟 🏟_abacaba":                   "Can't find end of Italic entity at byte offset 9",
		"🏟 🏟_abac * asd ":               "Can't find end of Bold entity at byte offset 15",
		"🏟 🏟_abac * asd _":              "Can't find end of Italic entity at byte offset 21",
		"🏟 🏟`":                          "Can't find end of Code entity at byte offset 9",
		"🏟 🏟```":                        "Can't find end of Pre entity at byte offset 9",
		"🏟 🏟```a":                       "Can't find end of Pre entity at byte offset 9",
		"🏟 🏟```a ":                      "Can't find end of PreCode entity at byte offset 9",
		"🏟 🏟__🏟 🏟_":                     "Can't find end of Italic entity at byte offset 20",
		"🏟 🏟_🏟 🏟__":                     "Can't find end of Underline entity at byte offset 19",
		"🏟 🏟```🏟 🏟`":                    "Can't find end of Code entity at byte offset 21",
		"🏟 🏟```🏟 🏟_":                    "Can't find end of PreCode entity at byte offset 9",
		"[telegram\\.org](asd\\)":       "Can't find end of a URL at byte offset 16",
		"[telegram\\.org](":             "Can't find end of a URL at byte offset 16",
		"🏟 🏟__🏟 _🏟___":                  "Can't find end of Italic entity at byte offset 23",
		"🏟 🏟__":                         "Can't find end of Underline entity at byte offset 9",
		"🏟 🏟||test\\|":                  "Can't find end of Spoiler entity at byte offset 9",
		"🏟 🏟!":                          "Character '!' " + reservedMsg,
		"🏟 🏟>":                          "Character '>' " + reservedMsg,
		"🏟 🏟![":                         "Can't find end of CustomEmoji entity at byte offset 9",
		"🏟 🏟![👍]":                       "Custom emoji entity must contain a tg://emoji URL",
		">*b\n>ld \n>bo\nld*\nasd\ndef": "Can't find end of Bold entity at byte offset 1",
		">\n*a*>2":                      "Character '>' " + reservedMsg,
		">asd\n>q||e||w||\n||asdad":     "Can't find end of Spoiler entity at byte offset 16",
		">asd\n>q||ew\n||asdad":         "Can't find end of Spoiler entity at byte offset 7",
		">asd\n>q||e||w__\n||asdad":     "Can't find end of Underline entity at byte offset 13",
		">asd\n>q||e||w||a\n||asdad":    "Can't find end of Spoiler entity at byte offset 13",
	}
	for in, want := range errs {
		if _, _, err := parseMarkdownV2(in); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	type ent struct {
		typ      string
		off, len int
		url      string
	}
	oks := []struct {
		in, text string
		ents     []ent // nil: not checked
	}{
		{"", "", nil},
		{"\\\\", "\\", nil},
		{"\\\\\\", "\\\\", nil},
		{"🏟 🏟``", "🏟 🏟", []ent{}},
		{"🏟 🏟_abac \\* asd _", "🏟 🏟abac * asd ", []ent{{"italic", 5, 11, ""}}},
		{"\\\\\\a\\b\\c\\d\\e\\f\\1\\2\\3\\4\\➡️\\", "\\abcdef1234\\➡️\\", []ent{}},
		{"🏟 🏟_🏟 __🏟___", "🏟 🏟🏟 🏟", []ent{{"italic", 5, 5, ""}, {"underline", 8, 2, ""}}},
		{"🏟 🏟__🏟 _🏟_ __", "🏟 🏟🏟 🏟 ", []ent{{"underline", 5, 6, ""}, {"italic", 8, 2, ""}}},
		{"🏟 🏟`🏟 🏟```", "🏟 🏟🏟 🏟", []ent{{"code", 5, 5, ""}}},
		{"🏟 🏟```🏟 🏟```", "🏟 🏟 🏟", []ent{{"pre", 5, 3, ""}}},
		{"🏟 🏟```🏟\n🏟```", "🏟 🏟🏟", nil},
		{"🏟 🏟```🏟\r\n🏟```", "🏟 🏟🏟", nil},
		{"🏟 🏟```🏟\n\n🏟```", "🏟 🏟\n🏟", nil},
		{"🏟 🏟```🏟 \\\\\\`🏟```", "🏟 🏟 \\`🏟", nil},
		{"||test||", "test", []ent{{"spoiler", 0, 4, ""}}},
		{"🏟 🏟``````", "🏟 🏟", []ent{}},
		{"🏟 🏟____", "🏟 🏟", []ent{}},
		{"`_* *_`__*` `*__", "_* *_ ", []ent{{"code", 0, 5, ""}, {"underline", 5, 1, ""}, {"bold", 5, 1, ""}, {"code", 5, 1, ""}}},
		{"[](telegram.org)", "", []ent{}},
		{"[ ](telegram.org)", " ", []ent{{"text_link", 0, 1, "http://telegram.org/"}}},
		{"[ ](as)", " ", []ent{}},
		{"[telegram\\.org]", "telegram.org", []ent{{"text_link", 0, 12, "http://telegram.org/"}}},
		{"[telegram\\.org](https://telegram.dog?)", "telegram.org", []ent{{"text_link", 0, 12, "https://telegram.dog/?"}}},
		{"[telegram\\.org]()", "telegram.org", []ent{}},
		{"[telegram\\.org](tg:user?id=123456)", "telegram.org", []ent{{"text_mention", 0, 12, ""}}},
		{"> \n> \n>", " \n \n", []ent{{"blockquote", 0, 4, ""}}},
		{"> \\>\n \\> \n>", " >\n > \n", []ent{{"blockquote", 0, 3, ""}}},
		{"abc\n> \n> \n>\ndef", "abc\n \n \n\ndef", []ent{{"blockquote", 4, 5, ""}}},
		{">", "", []ent{}},
		{">a", "a", []ent{{"blockquote", 0, 1, ""}}},
		{"\r>a", "\ra", []ent{{"blockquote", 1, 1, ""}}},
		{"\r\r>\r\ra\r\n\r", "\r\r\r\ra\r\n\r", []ent{{"blockquote", 2, 5, ""}}},
		{">*b\n>ld \n>bo\n>ld*\nasd\ndef", "b\nld \nbo\nld\nasd\ndef", []ent{{"blockquote", 0, 12, ""}, {"bold", 0, 11, ""}}},
		{"*a\n>b\n>ld \n>bo\n>ld\nasd*\ndef", "a\nb\nld \nbo\nld\nasd\ndef", []ent{{"bold", 0, 17, ""}, {"blockquote", 2, 12, ""}}},
		{">`b\n>ld \n>bo\nld`\n>asd\ndef", "b\n>ld \n>bo\nld\nasd\ndef", []ent{{"blockquote", 0, 18, ""}, {"code", 0, 13, ""}}},
		{"`>b\n>ld \n>bo\nld`\n>asd\ndef", ">b\n>ld \n>bo\nld\nasd\ndef", []ent{{"code", 0, 14, ""}, {"blockquote", 15, 4, ""}}},
		{">\n1", "\n1", []ent{{"blockquote", 0, 1, ""}}},
		{">\n**>2", "\n2", []ent{{"blockquote", 0, 1, ""}, {"blockquote", 1, 1, ""}}},
		{">**\n>2", "\n2", []ent{{"blockquote", 0, 2, ""}}},
		{">*abcd*\n", "abcd\n", []ent{{"blockquote", 0, 5, ""}, {"bold", 0, 4, ""}}},
		{"*>abcd\n*", "abcd\n", []ent{{"blockquote", 0, 5, ""}, {"bold", 0, 5, ""}}},
		{"abc\n>def\n>def\n\r>ghi2\njkl", "abc\ndef\ndef\n\rghi2\njkl", []ent{{"blockquote", 4, 8, ""}, {"blockquote", 13, 5, ""}}},
		{">asd\n>q||e||w||\nasdad", "asd\nqew\nasdad", []ent{{"expandable_blockquote", 0, 8, ""}, {"spoiler", 5, 1, ""}}},
		{">asd\n>q||ew||\nasdad", "asd\nqew\nasdad", []ent{{"blockquote", 0, 8, ""}, {"spoiler", 5, 2, ""}}},
		{">asd\r\n>q||e||w||\r\n", "asd\r\nqew\r\n", []ent{{"expandable_blockquote", 0, 10, ""}, {"spoiler", 6, 1, ""}}},
		{">asd\r\n>q||ew||", "asd\r\nqew", []ent{{"blockquote", 0, 8, ""}, {"spoiler", 6, 2, ""}}},
		{">||", "", []ent{}},
	}
	for _, c := range oks {
		text, ents, err := parseMarkdownV2(c.in)
		if err != nil || text != c.text {
			t.Errorf("%q: %q, %v; want %q", c.in, text, err, c.text)
			continue
		}
		if c.ents == nil {
			continue
		}
		var got []ent
		for _, e := range ents {
			got = append(got, ent{e.Type, e.Offset, e.Length, e.URL})
		}
		want := c.ents
		sortEnts := make([]Entity, len(want))
		for i, w := range want {
			sortEnts[i] = Entity{Type: w.typ, Offset: w.off, Length: w.len, URL: w.url}
		}
		if len(got) != len(sortEnts) {
			t.Errorf("%q: entities %v, want %v", c.in, got, want)
			continue
		}
		left := map[ent]int{}
		for _, w := range sortEnts {
			left[ent{w.Type, w.Offset, w.Length, w.URL}]++
		}
		for _, g := range got {
			if left[g] == 0 {
				t.Errorf("%q: entities %v, want %v", c.in, got, want)
				break
			}
			left[g]--
		}
	}
}

func TestAutoEntities(t *testing.T) {
	text := "/swap@mandate_test_bot 1 ETH.USD to @alice via uniswap.org or https://x.y/z, see a/b"
	var got []string
	for _, e := range autoEntities(text, nil) {
		got = append(got, e.Type+":"+text[e.Offset:e.Offset+e.Length])
	}
	want := "bot_command:/swap@mandate_test_bot mention:@alice url:uniswap.org url:https://x.y/z"
	if strings.Join(got, " ") != want {
		t.Fatalf("auto entities %q, want %q", strings.Join(got, " "), want)
	}
}
