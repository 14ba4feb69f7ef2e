package dctest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// result is a successful answer: a JSON body (nil: 204) and headers.
type result struct {
	body   any
	header map[string]string
}

// route is one REST endpoint: its method and path pattern ({} matches one segment), and
// whether Discord rate-limits it (interaction callbacks are not).
type route struct {
	method, pattern string
	limited         bool
	handle          func(s *Server, r *http.Request, args []string) (any, *apiError)
}

var routes = []route{
	{"GET", "/gateway", false, (*Server).getGateway},
	{"GET", "/gateway/bot", false, (*Server).getGateway},
	{"GET", "/users/@me", true, (*Server).getMe},
	{"POST", "/users/@me/channels", true, (*Server).createDM},
	{"PUT", "/applications/{}/commands", true, (*Server).putCommands},
	{"POST", "/channels/{}/messages", true, (*Server).createMessage},
	{"PATCH", "/channels/{}/messages/{}", true, (*Server).editMessage},
	{"POST", "/channels/{}/typing", true, (*Server).typing},
	{"POST", "/interactions/{}/{}/callback", false, (*Server).callback},
	{"PATCH", "/webhooks/{}/{}/messages/{}", true, (*Server).editWebhookMessage},
	{"POST", "/webhooks/{}/{}", true, (*Server).followup},
}

// match reports whether path fits pattern, and the segments {} matched.
func match(pattern, path string) ([]string, bool) {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	var args []string
	for i := range ps {
		switch {
		case ps[i] == "{}" && xs[i] != "":
			args = append(args, xs[i])
		case ps[i] != xs[i]:
			return nil, false
		}
	}
	return args, true
}

// rest answers one REST call: the token first, then the rate limit, then the endpoint.
func (s *Server) rest(r *http.Request, path string) (result, *apiError) {
	for _, rt := range routes {
		args, ok := match(rt.pattern, path)
		if !ok || rt.method != r.Method {
			continue
		}
		name := rt.method + " " + rt.pattern
		s.mu.Lock()
		s.stats.Requests[name]++
		authErr := s.authLocked(r, rt)
		var hdr map[string]string
		var limitErr *apiError
		if authErr == nil && rt.limited {
			major := ""
			if len(args) > 0 {
				major = args[len(args)-1]
				if len(args) > 1 {
					major = args[0] + "/" + args[1] // a channel, or a webhook's id and token
				}
			}
			hdr, limitErr = s.limits.take(name+" "+major, time.Now())
			if limitErr != nil {
				s.stats.RateLimited++
			}
		}
		s.mu.Unlock()
		if authErr != nil {
			return result{}, authErr
		}
		if limitErr != nil {
			return result{}, limitErr
		}
		body, err := rt.handle(s, r, args)
		if err != nil {
			return result{}, err
		}
		return result{body: body, header: hdr}, nil
	}
	return result{}, &apiError{status: 404, code: 0, message: "404: Not Found"}
}

// authLocked checks the Authorization header. Interaction callbacks and their webhooks are
// authorised by the interaction's token instead, as on Discord.
func (s *Server) authLocked(r *http.Request, rt route) *apiError {
	if strings.HasPrefix(rt.pattern, "/interactions/") || strings.HasPrefix(rt.pattern, "/webhooks/") {
		return nil
	}
	if s.revoked || r.Header.Get("Authorization") != "Bot "+s.token {
		return &apiError{status: 401, code: 0, message: "401: Unauthorized"}
	}
	return nil
}

func (s *Server) getGateway(*http.Request, []string) (any, *apiError) {
	url := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway"
	return map[string]any{"url": url, "shards": 1, "session_start_limit": map[string]int{
		"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}, nil
}

func (s *Server) botWire() wUser {
	return wUser{ID: botID, Username: botName, Discriminator: "0", Bot: true}
}

func (s *Server) getMe(*http.Request, []string) (any, *apiError) { return s.botWire(), nil }

func (s *Server) createDM(r *http.Request, _ []string) (any, *apiError) {
	var p struct {
		RecipientID string `json:"recipient_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.RecipientID == "" {
		return nil, badRequest(50035, "Invalid Form Body: recipient_id is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.dmLocked(p.RecipientID)
	s.notifyLocked()
	return map[string]any{"id": ch.ID, "type": 1, "recipients": []wUser{{ID: p.RecipientID, Username: "user", Discriminator: "0"}}}, nil
}

func (s *Server) putCommands(r *http.Request, args []string) (any, *apiError) {
	if args[0] != botID {
		return nil, &apiError{status: 403, code: 50001, message: "Missing Access"}
	}
	var cmds []map[string]any
	if err := json.NewDecoder(r.Body).Decode(&cmds); err != nil {
		return nil, badRequest(50035, "Invalid Form Body: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = nil
	for _, c := range cmds {
		name, _ := c["name"].(string)
		desc, _ := c["description"].(string)
		if name == "" || len(name) > 32 || strings.ToLower(name) != name || desc == "" || len(desc) > 100 {
			return nil, badRequest(50035, "Invalid Form Body: a command needs a lower-case name of 1-32 characters and a description of 1-100")
		}
		c["id"], c["application_id"], c["version"] = s.snowflakeLocked(), botID, "1"
		raw, _ := json.Marshal(c)
		s.commands = append(s.commands, raw)
	}
	s.notifyLocked()
	return cmds, nil
}

// readBody reads a message body, JSON or multipart (payload_json and files[n]).
func readBody(r *http.Request) (wBody, []File, *apiError) {
	var b wBody
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			return b, nil, badRequest(50109, "The request body contains invalid JSON.")
		}
		return b, nil, nil
	}
	var files []File
	mr, err := multipartReader(r, params["boundary"])
	if err != nil {
		return b, nil, badRequest(50035, "Invalid Form Body: "+err.Error())
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return b, nil, badRequest(50035, "Invalid Form Body: "+err.Error())
		}
		data, _ := io.ReadAll(p)
		switch {
		case p.FormName() == "payload_json":
			if err := json.Unmarshal(data, &b); err != nil {
				return b, nil, badRequest(50109, "The request body contains invalid JSON.")
			}
		case strings.HasPrefix(p.FormName(), "files["):
			files = append(files, File{Name: p.FileName(), Data: data})
		}
	}
	return b, files, nil
}

// check enforces Discord's limits on a message: 2,000 characters of content, 10 embeds of
// at most 6,000 characters in all (4,096 in a description, 256 in a title, 25 fields), 5
// rows of 5 buttons, and something to show.
func check(b wBody, files []File, create bool) *apiError {
	if b.Content != nil && utf8.RuneCountInString(*b.Content) > 2000 {
		return badRequest(50035, "Invalid Form Body: content: Must be 2000 or fewer in length.")
	}
	if b.Embeds != nil {
		if len(*b.Embeds) > 10 {
			return badRequest(50035, "Invalid Form Body: embeds: Must be 10 or fewer in length.")
		}
		total := 0
		for _, e := range *b.Embeds {
			n := utf8.RuneCountInString
			if n(e.Title) > 256 || n(e.Description) > 4096 || len(e.Fields) > 25 {
				return badRequest(50035, "Invalid Form Body: embeds: an embed is over its limits.")
			}
			total += n(e.Title) + n(e.Description)
			for _, f := range e.Fields {
				if n(f.Name) > 256 || n(f.Value) > 1024 {
					return badRequest(50035, "Invalid Form Body: embeds: a field is over its limits.")
				}
				total += n(f.Name) + n(f.Value)
			}
		}
		if total > 6000 {
			return badRequest(50035, "Invalid Form Body: embeds: Embed size exceeds maximum size of 6000")
		}
	}
	if b.Components != nil {
		if err := checkComponents(*b.Components); err != nil {
			return err
		}
	}
	empty := (b.Content == nil || *b.Content == "") && (b.Embeds == nil || len(*b.Embeds) == 0) && len(files) == 0 &&
		(b.Components == nil || len(*b.Components) == 0)
	if create && empty {
		return badRequest(50006, "Cannot send an empty message")
	}
	return nil
}

func checkComponents(rows []wComponent) *apiError {
	if len(rows) > 5 {
		return badRequest(50035, "Invalid Form Body: components: Must be 5 or fewer in length.")
	}
	for _, r := range rows {
		if r.Type != 1 || len(r.Components) == 0 || len(r.Components) > 5 {
			return badRequest(50035, "Invalid Form Body: components: a row (type 1) holds 1 to 5 components")
		}
		for _, c := range r.Components {
			if c.Type == 2 && (c.CustomID == "" || len(c.CustomID) > 100 || utf8.RuneCountInString(c.Label) > 80) {
				return badRequest(50035, "Invalid Form Body: components: a button needs a custom_id of 1-100 characters and a label of at most 80")
			}
		}
	}
	return nil
}

// message builds a stored message from a create body.
func (s *Server) messageLocked(cs *channelState, b wBody) *wMessage {
	m := &wMessage{ID: s.snowflakeLocked(), ChannelID: cs.ch.ID, GuildID: cs.ch.GuildID, Author: s.botWire(),
		Flags: b.Flags, Timestamp: time.Now().UTC().Format(time.RFC3339)}
	apply(m, b)
	cs.msgs[m.ID] = m
	return m
}

// apply sets what b sets on m: an edit keeps what it leaves out.
func apply(m *wMessage, b wBody) {
	if b.Content != nil {
		m.Content = *b.Content
	}
	if b.Embeds != nil {
		m.Embeds = *b.Embeds
	}
	if b.Components != nil {
		m.Components = *b.Components
	}
}

// seen is what a person sees of m, as the record of one thing the bot did.
func seen(kind string, m *wMessage, b wBody, files []File) Message {
	return Message{Kind: kind, ID: m.ID, Content: m.Content, Embeds: toEmbeds(m.Embeds), Buttons: toButtons(m.Components),
		Files: files, Ephemeral: m.Flags&ephemeral != 0, AllowedMentions: toAllowed(b.AllowedMentions)}
}

func (s *Server) createMessage(r *http.Request, args []string) (any, *apiError) {
	b, files, err := readBody(r)
	if err == nil {
		err = check(b, files, true)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.channels[args[0]]
	if cs == nil {
		return nil, &apiError{status: 404, code: 10003, message: "Unknown Channel"}
	}
	m := s.messageLocked(cs, b)
	s.recordLocked(cs, seen("create", m, b, files))
	return m, nil
}

func (s *Server) editMessage(r *http.Request, args []string) (any, *apiError) {
	b, files, err := readBody(r)
	if err == nil {
		err = check(b, files, false)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.channels[args[0]]
	if cs == nil {
		return nil, &apiError{status: 404, code: 10003, message: "Unknown Channel"}
	}
	m := cs.msgs[args[1]]
	if m == nil {
		return nil, &apiError{status: 404, code: 10008, message: "Unknown Message"}
	}
	if m.Author.ID != botID {
		return nil, &apiError{status: 403, code: 50005, message: "Cannot edit a message authored by another user"}
	}
	apply(m, b)
	s.recordLocked(cs, seen("edit", m, b, files))
	return m, nil
}

func (s *Server) typing(_ *http.Request, args []string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.channels[args[0]]
	if cs == nil {
		return nil, &apiError{status: 404, code: 10003, message: "Unknown Channel"}
	}
	cs.typ++
	s.notifyLocked()
	return nil, nil
}
