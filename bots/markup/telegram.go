// Package markup writes chat-platform markup that text from outside the bot cannot break:
// Telegram's MarkdownV2 and Discord's markdown.
//
// Token symbols, pool names and model output are chosen by strangers. Escaped with these
// functions they render as the characters they are: a symbol named "*_[" neither breaks
// the message (Telegram rejects a MarkdownV2 message with one stray reserved character)
// nor turns into a link, a mention or a command.
package markup

import (
	"strings"
	"unicode"
)

// mdv2Reserved are the characters the Bot API requires escaped in MarkdownV2 text outside
// code and link URLs (https://core.telegram.org/bots/api#markdownv2-style), plus the
// backslash itself.
const mdv2Reserved = "_*[]()~`>#+-=|{}.!\\"

// Escape makes s literal MarkdownV2 text.
func Escape(s string) string {
	return escapeSet(s, mdv2Reserved)
}

// Code is s as inline monospace. Inside code only ` and \ are special.
func Code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + escapeSet(s, "`\\") + "`"
}

// Pre is s as a code block; lang is kept only if it is a plain language name, since it
// runs to the end of the first line and cannot be escaped.
func Pre(s, lang string) string {
	if !plainLang(lang) {
		lang = ""
	}
	return "```" + lang + "\n" + escapeSet(s, "`\\") + "\n```"
}

// Bold is s, escaped, in bold.
func Bold(s string) string { return wrap("*", s) }

// Italic is s, escaped, in italics.
func Italic(s string) string { return wrap("_", s) }

// Link is text linking to url. url must come from the bot (an explorer address), never
// from a stranger: escaping keeps it from breaking the message, not from pointing
// somewhere harmful.
func Link(text, url string) string {
	return "[" + Escape(text) + "](" + escapeSet(url, `)\`) + ")"
}

// Untrusted is a stranger's name (a token symbol, a model's text) as plain text that
// Telegram will not turn into anything: reserved characters are escaped, and a word
// joiner after @, /, #, $, ':' and '.' stops the app from detecting mentions, commands,
// hashtags, cashtags and links; line breaks and bidirectional controls, which let a
// name rearrange the message around it, become spaces or are dropped.
func Untrusted(s string) string {
	return Escape(Defuse(s))
}

// wordJoiner is invisible and keeps text together while breaking entity detection.
const wordJoiner = '\u2060'

// Defuse breaks the patterns chat apps detect as entities in plain text, and removes
// characters that can rearrange the text around s. It escapes nothing.
func Defuse(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
			continue
		case isBidiControl(r) || r == '\u2060':
			continue
		case unicode.IsControl(r):
			continue
		}
		b.WriteRune(r)
		switch r {
		case '@', '/', '#', '$', ':', '.', '<':
			b.WriteRune(wordJoiner)
		}
	}
	return b.String()
}

func isBidiControl(r rune) bool {
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069',
		r == '\u200E', r == '\u200F', r == '\u061C':
		return true
	}
	return false
}

func wrap(marker, s string) string {
	if s == "" {
		return ""
	}
	return marker + Escape(s) + marker
}

func escapeSet(s, set string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) >= 0 {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + n)
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func plainLang(lang string) bool {
	for _, r := range lang {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '_') {
			return false
		}
	}
	return len(lang) <= 32
}
