package markup

import (
	"fmt"
	"strings"
)

// entity is one MarkdownV2 entity as the Bot API would report it, with offsets in runes
// of the parsed plain text.
type entity struct {
	kind   string
	offset int
	length int
	url    string
}

// parseMDv2 parses MarkdownV2 the way the Bot API documents it, failing where Telegram
// answers "can't parse entities": a reserved character that is neither escaped nor
// markup, an escape of a character outside 1..126, an entity left open.
func parseMDv2(s string) (string, []entity, error) {
	rs := []rune(s)
	var out []rune
	var ents []entity
	type open struct {
		kind  string
		start int
	}
	var stack []open
	closeOrOpen := func(kind string) {
		if n := len(stack); n > 0 && stack[n-1].kind == kind {
			st := stack[n-1]
			stack = stack[:n-1]
			ents = append(ents, entity{kind: kind, offset: st.start, length: len(out) - st.start})
			return
		}
		stack = append(stack, open{kind, len(out)})
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\':
			if i+1 >= len(rs) || rs[i+1] < 1 || rs[i+1] > 126 {
				return "", nil, fmt.Errorf("bad escape at %d", i)
			}
			i++
			out = append(out, rs[i])
		case r == '`':
			fence := 1
			if i+2 < len(rs) && rs[i+1] == '`' && rs[i+2] == '`' {
				fence = 3
			}
			i += fence
			kind := "code"
			if fence == 3 {
				kind = "pre"
				for i < len(rs) && rs[i] != '\n' { // language
					i++
				}
				i++ // the newline
			}
			start := len(out)
			closed := false
			for ; i < len(rs); i++ {
				if rs[i] == '\\' {
					if i+1 >= len(rs) || rs[i+1] < 1 || rs[i+1] > 126 {
						return "", nil, fmt.Errorf("bad escape in code at %d", i)
					}
					i++
					out = append(out, rs[i])
					continue
				}
				if rs[i] == '`' {
					if fence == 3 {
						if i+2 >= len(rs) || rs[i+1] != '`' || rs[i+2] != '`' {
							return "", nil, fmt.Errorf("stray ` in pre at %d", i)
						}
						i += 2
						if n := len(out); n > start && out[n-1] == '\n' {
							out = out[:n-1]
						}
					}
					closed = true
					break
				}
				out = append(out, rs[i])
			}
			if !closed {
				return "", nil, fmt.Errorf("unclosed %s", kind)
			}
			ents = append(ents, entity{kind: kind, offset: start, length: len(out) - start})
		case r == '*':
			closeOrOpen("bold")
		case r == '_':
			if i+1 < len(rs) && rs[i+1] == '_' {
				i++
				closeOrOpen("underline")
			} else {
				closeOrOpen("italic")
			}
		case r == '~':
			closeOrOpen("strikethrough")
		case r == '|':
			if i+1 >= len(rs) || rs[i+1] != '|' {
				return "", nil, fmt.Errorf("reserved | at %d", i)
			}
			i++
			closeOrOpen("spoiler")
		case r == '[':
			stack = append(stack, open{"link", len(out)})
		case r == ']':
			n := len(stack)
			if n == 0 || stack[n-1].kind != "link" || i+1 >= len(rs) || rs[i+1] != '(' {
				return "", nil, fmt.Errorf("reserved ] at %d", i)
			}
			st := stack[n-1]
			stack = stack[:n-1]
			var url []rune
			j := i + 2
			for ; j < len(rs) && rs[j] != ')'; j++ {
				if rs[j] == '\\' {
					j++
					if j >= len(rs) {
						return "", nil, fmt.Errorf("bad escape in url")
					}
				}
				url = append(url, rs[j])
			}
			if j >= len(rs) {
				return "", nil, fmt.Errorf("unclosed link url")
			}
			i = j
			ents = append(ents, entity{kind: "link", offset: st.start, length: len(out) - st.start, url: string(url)})
		case r == '>' && (i == 0 || rs[i-1] == '\n'):
			ents = append(ents, entity{kind: "blockquote", offset: len(out)})
		case strings.ContainsRune("()#+-={}.!>", r):
			return "", nil, fmt.Errorf("character '%c' is reserved and must be escaped (at %d)", r, i)
		default:
			out = append(out, r)
		}
	}
	if len(stack) > 0 {
		return "", nil, fmt.Errorf("unclosed %s", stack[len(stack)-1].kind)
	}
	return string(out), ents, nil
}
