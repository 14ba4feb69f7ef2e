package tgtest

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// parseMarkdownV2 follows the MarkdownV2 rules of https://core.telegram.org/bots/api#markdownv2-style
// in the way Telegram's parser applies them (left to right, one stack of open entities): a
// reserved character outside an entity's syntax must be escaped, inside code and pre only '`'
// and '\' are special, and an entity left open is an error. It returns the visible text and the
// entities with UTF-16 offsets. The error text is Telegram's, after "can't parse entities: ".
func parseMarkdownV2(text string) (string, []Entity, error) {
	type open struct {
		typ     string
		lang    string
		byteOff int // offset in the markup, for error messages
		start   int // offset in the result, bytes
	}
	const reserved = "_*[]()~`>#+-=|{}.!"
	var (
		out        strings.Builder
		stack      []open
		entities   []Entity
		quote      = -1 // result byte offset where the open blockquote started
		quoteDepth int  // entities open when the quote started; the quote may not end inside newer ones
		quoteLine  = -1 // result offset of the latest line that began with '>'
		expandable bool
	)
	at := func(i int) byte {
		if i < len(text) {
			return text[i]
		}
		return 0
	}
	unclosed := func() error {
		o := stack[len(stack)-1]
		name := entityName(o.typ)
		if o.typ == "pre" && o.lang != "" {
			name = "PreCode"
		}
		return fmt.Errorf("Can't find end of %s entity at byte offset %d", name, o.byteOff)
	}
	// A blockquote runs to the end of its last '>' line, newline included.
	closeQuote := func() error {
		if quote < 0 {
			return nil
		}
		if len(stack) > quoteDepth {
			return unclosed()
		}
		if out.Len() > quote {
			typ := "blockquote"
			if expandable {
				typ = "expandable_blockquote"
			}
			entities = append(entities, entityAt(out.String(), typ, quote, out.Len(), ""))
		}
		quote, expandable = -1, false
		return nil
	}
	openQuote := func() {
		quote, quoteDepth, expandable = out.Len(), len(stack), false
	}
	inCode := func() bool {
		if len(stack) == 0 {
			return false
		}
		t := stack[len(stack)-1].typ
		return t == "code" || t == "pre"
	}
	// Line starts are judged on the visible text: '>' opens a quote after a line break ("\r"
	// too), and a quote ends at a line that follows '\n' and does not start with '>'.
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !inCode() {
			o := out.String()
			afterBreak := o == "" || o[len(o)-1] == '\n' || o[len(o)-1] == '\r'
			if afterBreak && strings.HasPrefix(text[i:], "**>") {
				if err := closeQuote(); err != nil {
					return "", nil, err
				}
				openQuote()
				quoteLine = out.Len()
				i += 2
				continue
			}
			if afterBreak && c == '>' {
				if quote < 0 {
					openQuote()
				}
				quoteLine = out.Len()
				continue
			}
			if quote >= 0 && o != "" && o[len(o)-1] == '\n' && quoteLine != out.Len() {
				if err := closeQuote(); err != nil {
					return "", nil, err
				}
			}
			// "||" at the end of a quote's line makes it expandable, unless it closes a spoiler
			if quote >= 0 && c == '|' && at(i+1) == '|' && (at(i+2) == '\n' || at(i+2) == '\r' || at(i+2) == 0) &&
				(len(stack) == 0 || stack[len(stack)-1].typ != "spoiler") {
				expandable = true
				i++
				continue
			}
		}
		if c == '\\' && at(i+1) > 0 && at(i+1) <= 126 {
			i++
			out.WriteByte(text[i])
			continue
		}
		specials := reserved
		if inCode() {
			specials = "`"
		}
		if !strings.ContainsRune(specials, rune(c)) {
			out.WriteByte(c)
			continue
		}
		isEnd := false
		if len(stack) > 0 {
			switch stack[len(stack)-1].typ {
			case "bold":
				isEnd = c == '*'
			case "italic":
				isEnd = c == '_' && at(i+1) != '_'
			case "code":
				isEnd = c == '`'
			case "pre":
				isEnd = c == '`' && at(i+1) == '`' && at(i+2) == '`'
			case "text_link", "custom_emoji":
				isEnd = c == ']'
			case "underline":
				isEnd = c == '_' && at(i+1) == '_'
			case "strikethrough":
				isEnd = c == '~'
			case "spoiler":
				isEnd = c == '|' && at(i+1) == '|'
			}
		}
		if !isEnd {
			o := open{byteOff: i}
			switch c {
			case '_':
				o.typ = "italic"
				if at(i+1) == '_' {
					o.typ = "underline"
					i++
				}
			case '*':
				o.typ = "bold"
			case '~':
				o.typ = "strikethrough"
			case '|':
				if at(i+1) != '|' {
					return "", nil, reservedErr(c)
				}
				o.typ = "spoiler"
				i++
			case '[':
				o.typ = "text_link"
			case '!':
				if at(i+1) != '[' {
					return "", nil, reservedErr(c)
				}
				o.typ = "custom_emoji"
				i++
			case '`':
				if at(i+1) == '`' && at(i+2) == '`' {
					o.typ = "pre"
					i += 3
					j := i
					for j < len(text) && text[j] != '`' && !isSpace(text[j]) {
						j++
					}
					if j != i && j < len(text) && text[j] != '`' {
						o.lang = text[i:j]
						i = j
					}
					if at(i) == '\n' || at(i) == '\r' {
						if (at(i+1) == '\n' || at(i+1) == '\r') && at(i) != at(i+1) {
							i += 2
						} else {
							i++
						}
					}
					i--
				} else {
					o.typ = "code"
				}
			default:
				return "", nil, reservedErr(c)
			}
			o.start = out.Len()
			stack = append(stack, o)
			continue
		}
		o := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var link string
		switch o.typ {
		case "pre":
			i += 2
		case "underline", "spoiler":
			i++
		case "text_link", "custom_emoji":
			if at(i+1) != '(' {
				if o.typ == "custom_emoji" {
					return "", nil, fmt.Errorf("Custom emoji entity must contain a tg://emoji URL")
				}
				link = out.String()[o.start:]
				break
			}
			i += 2
			begin := i
			var u strings.Builder
			for i < len(text) && text[i] != ')' {
				if text[i] == '\\' && at(i+1) > 0 && at(i+1) <= 126 {
					u.WriteByte(text[i+1])
					i += 2
					continue
				}
				u.WriteByte(text[i])
				i++
			}
			if at(i) != ')' {
				return "", nil, fmt.Errorf("Can't find end of a URL at byte offset %d", begin)
			}
			link = u.String()
		}
		if out.Len() == o.start {
			continue // empty entities are dropped, as Telegram does
		}
		e := entityAt(out.String(), o.typ, o.start, out.Len(), o.lang)
		switch o.typ {
		case "text_link":
			if id, ok := mentionID(link); ok {
				e.Type, e.User = "text_mention", &wUser{ID: id}
			} else if u, ok := normalizeURL(link); ok {
				e.URL = u
			} else {
				continue // Telegram silently drops links it cannot use
			}
		case "custom_emoji":
			e.URL = link
		}
		entities = append(entities, e)
	}
	if len(stack) > 0 {
		return "", nil, unclosed()
	}
	if err := closeQuote(); err != nil {
		return "", nil, err
	}
	return out.String(), entities, nil
}

func reservedErr(c byte) error {
	return fmt.Errorf("Character '%c' is reserved and must be escaped with the preceding '\\'", c)
}

func entityName(typ string) string {
	switch typ {
	case "text_link":
		return "TextUrl"
	case "custom_emoji":
		return "CustomEmoji"
	case "strikethrough":
		return "Strikethrough"
	}
	return strings.ToUpper(typ[:1]) + typ[1:]
}

var hostRe = regexp.MustCompile(`^([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$`)

// normalizeURL applies Telegram's link check: a missing scheme means http, the host must be a
// domain name, and an empty path becomes "/".
func normalizeURL(link string) (string, bool) {
	if !strings.Contains(link, "://") {
		link = "http://" + link
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp", "tg", "ton", "tonsite":
	default:
		return "", false
	}
	if u.Scheme != "tg" && !hostRe.MatchString(u.Hostname()) {
		return "", false
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), true
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

func mentionID(link string) (int64, bool) {
	rest, ok := strings.CutPrefix(link, "tg://user?id=")
	if !ok {
		rest, ok = strings.CutPrefix(link, "tg:user?id=")
	}
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil
}

// entityAt converts a byte range of s into a UTF-16 entity.
func entityAt(s, typ string, from, to int, lang string) Entity {
	return Entity{Type: typ, Offset: utf16Len(s[:from]), Length: utf16Len(s[from:to]), Language: lang}
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

var (
	autoCommand = regexp.MustCompile(`(^|[\s(])(/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?)`)
	autoMention = regexp.MustCompile(`(^|[\s(])(@[A-Za-z0-9_]{4,32})`)
	// Telegram knows every top-level domain; a short list keeps "ETH.USD" from looking like a link.
	autoURL = regexp.MustCompile(`(^|[\s(])(https?://[^\s]+|(?:[A-Za-z0-9-]+\.)+(?i:com|org|net|io|dev|app|xyz|me|co|ai|gg|finance|exchange)(?:/[^\s]*)?)\b`)
)

// autoEntities finds what Telegram clients make clickable without markup: /commands, @mentions
// and URLs. Text already covered by a code, pre or link entity is skipped.
func autoEntities(text string, have []Entity) []Entity {
	var found []Entity
	for _, m := range []struct {
		re  *regexp.Regexp
		typ string
	}{{autoCommand, "bot_command"}, {autoMention, "mention"}, {autoURL, "url"}} {
		for _, loc := range m.re.FindAllStringSubmatchIndex(text, -1) {
			e := entityAt(text, m.typ, loc[4], loc[5], "")
			if !covered(e, have) && !covered(e, found) {
				found = append(found, e)
			}
		}
	}
	return found
}

func covered(e Entity, list []Entity) bool {
	for _, h := range list {
		switch h.Type {
		case "code", "pre", "text_link", "text_mention", "bot_command", "mention", "url":
			if e.Offset < h.Offset+h.Length && h.Offset < e.Offset+e.Length {
				return true
			}
		}
	}
	return false
}

// textLength is the length Telegram limits (4096 for messages, 1024 for captions): characters
// of the text after entity parsing.
func textLength(s string) int { return utf8.RuneCountInString(s) }
