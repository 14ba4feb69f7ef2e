package dctest

import (
	"encoding/json"
	"strings"
)

// User is a person (or the bot) as the tests name them. IDs are snowflakes: decimal
// strings.
type User struct {
	ID       string
	Username string
}

// Channel is where messages go. A channel with no GuildID is a direct message.
type Channel struct {
	ID      string
	GuildID string
}

// DM reports whether c is a direct-message channel.
func (c Channel) DM() bool { return c.GuildID == "" }

// Message is one thing the bot did in a channel: a message sent or edited, or an
// interaction answered.
type Message struct {
	// Kind is "create" (channels/{id}/messages), "edit" (a PATCH of a message),
	// "reply" (an interaction answered with a message), "defer" (an interaction
	// answered with "thinking…"), "update" (a button's message replaced by its
	// interaction's answer), "original" (an interaction's answer edited through its
	// webhook) or "followup".
	Kind      string
	ID        string // the message's id
	ChannelID string
	Content   string
	Embeds    []Embed
	Buttons   []Button
	Files     []File
	Ephemeral bool
	// AllowedMentions is what the bot allowed to ping; nil: the field was absent, so
	// Discord would have parsed every mention in the text.
	AllowedMentions *AllowedMentions
	Interaction     string // the interaction this answers, if any
}

// Text is the message's content with its embeds' text as Discord shows it (a backslash
// before punctuation is not shown), for matching.
func (m Message) Text() string {
	var b strings.Builder
	b.WriteString(m.Content)
	for _, e := range m.Embeds {
		for _, s := range []string{e.Title, e.Description, e.Footer} {
			if s != "" {
				b.WriteString("\n" + s)
			}
		}
		for _, f := range e.Fields {
			b.WriteString("\n" + f.Name + ": " + f.Value)
		}
	}
	return unescape(b.String())
}

// unescape drops the backslashes that escape markdown: "\\*" shows as "*".
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\*_~|>`#-[]()<:.!+=/{}@&'\"", s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Pings reports whether the message could ping anyone: allowed_mentions absent, or
// allowing some kind of mention.
func (m Message) Pings() bool {
	a := m.AllowedMentions
	return a == nil || len(a.Parse) > 0 || len(a.Users) > 0 || len(a.Roles) > 0 || a.RepliedUser
}

// Embed is a message embed's text.
type Embed struct {
	Title       string
	Description string
	Footer      string
	Fields      []Field
	Image       string // the image's URL, e.g. attachment://chart.png
}

// Field is one name/value pair of an embed.
type Field struct{ Name, Value string }

// Button is a message component button.
type Button struct {
	Label    string
	CustomID string
	Style    int
	Disabled bool
}

// File is an attachment the bot uploaded.
type File struct {
	Name string
	Data []byte
}

// AllowedMentions is a message's allowed_mentions.
type AllowedMentions struct {
	Parse       []string
	Users       []string
	Roles       []string
	RepliedUser bool
}

// Wire shapes, as Discord's API documents them.

type wUser struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	Discriminator string `json:"discriminator"`
	Bot           bool   `json:"bot,omitempty"`
}

type wEmbed struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Color       int    `json:"color,omitempty"`
	Footer      *struct {
		Text string `json:"text"`
	} `json:"footer,omitempty"`
	Fields []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Inline bool   `json:"inline,omitempty"`
	} `json:"fields,omitempty"`
	Image *struct {
		URL string `json:"url"`
	} `json:"image,omitempty"`
}

type wComponent struct {
	Type       int          `json:"type"`
	Label      string       `json:"label,omitempty"`
	CustomID   string       `json:"custom_id,omitempty"`
	Style      int          `json:"style,omitempty"`
	Disabled   bool         `json:"disabled,omitempty"`
	Components []wComponent `json:"components,omitempty"`
}

type wAllowed struct {
	Parse       []string `json:"parse"`
	Users       []string `json:"users"`
	Roles       []string `json:"roles"`
	RepliedUser bool     `json:"replied_user"`
}

// wBody is the part of a message create or edit the server reads. Pointers tell a field
// left out (keep it, on an edit) from one set empty.
type wBody struct {
	Content         *string        `json:"content"`
	Embeds          *[]wEmbed      `json:"embeds"`
	Components      *[]wComponent  `json:"components"`
	AllowedMentions *wAllowed      `json:"allowed_mentions"`
	Flags           int            `json:"flags"`
	Attachments     *[]interface{} `json:"attachments"`
}

// wMessage is a message as the API returns it.
type wMessage struct {
	ID         string       `json:"id"`
	Type       int          `json:"type"`
	ChannelID  string       `json:"channel_id"`
	GuildID    string       `json:"guild_id,omitempty"`
	Author     wUser        `json:"author"`
	Content    string       `json:"content"`
	Embeds     []wEmbed     `json:"embeds"`
	Components []wComponent `json:"components"`
	Mentions   []wUser      `json:"mentions"`
	Flags      int          `json:"flags,omitempty"`
	Timestamp  string       `json:"timestamp"`
}

// ephemeral is the flag that shows a message only to the person who used the interaction.
const ephemeral = 1 << 6

func toEmbeds(ws []wEmbed) []Embed {
	var out []Embed
	for _, w := range ws {
		e := Embed{Title: w.Title, Description: w.Description}
		if w.Footer != nil {
			e.Footer = w.Footer.Text
		}
		for _, f := range w.Fields {
			e.Fields = append(e.Fields, Field{f.Name, f.Value})
		}
		if w.Image != nil {
			e.Image = w.Image.URL
		}
		out = append(out, e)
	}
	return out
}

func toButtons(rows []wComponent) []Button {
	var out []Button
	for _, r := range rows {
		for _, c := range r.Components {
			if c.Type == 2 {
				out = append(out, Button{Label: c.Label, CustomID: c.CustomID, Style: c.Style, Disabled: c.Disabled})
			}
		}
	}
	return out
}

func toAllowed(w *wAllowed) *AllowedMentions {
	if w == nil {
		return nil
	}
	return &AllowedMentions{Parse: w.Parse, Users: w.Users, Roles: w.Roles, RepliedUser: w.RepliedUser}
}

// apiError is an error answer: an HTTP status and Discord's JSON error body.
type apiError struct {
	status  int
	code    int
	message string
	header  map[string]string
	body    map[string]any // replaces the default body (429s)
}

func (e *apiError) Error() string { return e.message }

func (e *apiError) json() []byte {
	body := e.body
	if body == nil {
		body = map[string]any{"message": e.message, "code": e.code}
	}
	raw, _ := json.Marshal(body)
	return raw
}

func badRequest(code int, msg string) *apiError {
	return &apiError{status: 400, code: code, message: msg}
}
