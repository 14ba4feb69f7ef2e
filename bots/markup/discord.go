package markup

import "strings"

// discordReserved are the characters Discord's markdown gives a meaning: emphasis,
// strike, spoilers, quotes, code, headings, lists, masked links and the <@id> family of
// mentions. A backslash before any of them shows it as typed.
const discordReserved = "\\*_~|>`#-[]()<:"

// DiscordEscape makes s literal Discord text. @everyone and @here get a zero-width space
// after the @ so they cannot ping a server even if the message's allowed_mentions is
// ever left open; <@id>, <#id> and <@&id> are shown as typed because < is escaped.
func DiscordEscape(s string) string {
	s = defuseDiscordMentions(s)
	return escapeSet(s, discordReserved)
}

// DiscordBold is s, escaped, in bold.
func DiscordBold(s string) string {
	if s == "" {
		return ""
	}
	return "**" + DiscordEscape(s) + "**"
}

// DiscordCode is s as inline code. Discord has no escape inside code, so the fence is
// chosen around the backticks in s: one backtick, or two (with spaces inside) when s
// holds single backticks; a run of two or more in s is replaced by a look-alike (ˋ) so
// the code span cannot end early.
func DiscordCode(s string) string {
	if s == "" {
		return ""
	}
	s = defuseDiscordMentions(s)
	switch {
	case !strings.Contains(s, "`"):
		return "`" + s + "`"
	case !strings.Contains(s, "``"):
		return "`` " + s + " ``"
	default:
		return "`" + strings.ReplaceAll(s, "`", "ˋ") + "`"
	}
}

// defuseDiscordMentions breaks @everyone and @here, in any case, with a zero-width space.
func defuseDiscordMentions(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 6)
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '@' {
			rest := strings.ToLower(s[i+1:])
			if strings.HasPrefix(rest, "everyone") || strings.HasPrefix(rest, "here") {
				b.WriteString("\u200b")
			}
		}
	}
	return b.String()
}
