package dctest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/mandatehq/mandate/bots/discord/dctest"
)

// toServer sends discordgo's requests for discord.com to the test server.
type toServer struct{ base *url.URL }

func (t toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	return http.DefaultTransport.RoundTrip(r)
}

// client is a real discordgo session pointed at srv, not yet connected.
func client(t *testing.T, srv *dctest.Server, token string) *discordgo.Session {
	t.Helper()
	s, err := discordgo.New("Bot " + token)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL())
	s.Client = &http.Client{Transport: toServer{u}, Timeout: 10 * time.Second}
	s.ShouldReconnectOnError = false
	s.LogLevel = -1
	return s
}

var (
	alice = dctest.User{ID: "3000000000000000001", Username: "alice"}
	room  = dctest.Channel{ID: "5000000000000000001", GuildID: "4000000000000000001"}
)

// call makes one raw REST call and returns the status, headers and body.
func call(t *testing.T, srv *dctest.Server, method, path, token string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	raw, _ := json.Marshal(body)
	rd = bytes.NewReader(raw)
	req, _ := http.NewRequest(method, srv.URL()+"/api/v10"+path, rd)
	req.Header.Set("Authorization", "Bot "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

func TestAuth(t *testing.T) {
	srv := dctest.New(t)
	if code, _, _ := call(t, srv, "GET", "/users/@me", "not-the-token", nil); code != 401 {
		t.Fatalf("a wrong token got %d, want 401", code)
	}
	code, _, me := call(t, srv, "GET", "/users/@me", srv.Token(), nil)
	if code != 200 || me["id"] != srv.Bot().ID || me["bot"] != true {
		t.Fatalf("users/@me: %d %v", code, me)
	}
	srv.Revoke()
	if code, _, _ := call(t, srv, "GET", "/users/@me", srv.Token(), nil); code != 401 {
		t.Fatalf("a revoked token got %d, want 401", code)
	}
}

func TestRateLimit(t *testing.T) {
	srv := dctest.New(t)
	srv.SendText(room, alice, "hello") // the channel exists once someone wrote in it
	var last int
	var hdr http.Header
	var body map[string]any
	for i := 0; i < 6; i++ {
		last, hdr, body = call(t, srv, "POST", "/channels/"+room.ID+"/messages", srv.Token(), map[string]string{"content": "hi"})
		if i < 5 && last != 200 {
			t.Fatalf("message %d got %d, want 200 (5 per 5s are allowed): %v", i+1, last, body)
		}
	}
	if last != 429 || hdr.Get("X-RateLimit-Remaining") != "0" || hdr.Get("Retry-After") == "" {
		t.Fatalf("the 6th message got %d with headers %v, want 429 with X-RateLimit-Remaining 0 and Retry-After", last, hdr)
	}
	if ra, ok := body["retry_after"].(float64); !ok || ra <= 0 || ra > 5 {
		t.Fatalf("the 429's retry_after is %v, want seconds in (0, 5]", body["retry_after"])
	}
	if got := len(srv.Sent(room.ID)); got != 5 {
		t.Fatalf("the server recorded %d messages, want the 5 it accepted", got)
	}

	// discordgo reads the headers and waits instead of being refused.
	other := dctest.Channel{ID: "5000000000000000002", GuildID: room.GuildID}
	srv.SendText(other, alice, "hello")
	s := client(t, srv, srv.Token())
	before := srv.Stats().RateLimited
	for i := 0; i < 7; i++ {
		if _, err := s.ChannelMessageSend(other.ID, "n"+string(rune('0'+i))); err != nil {
			t.Fatalf("discordgo send %d: %v", i, err)
		}
	}
	sent := srv.Sent(other.ID)
	if len(sent) != 7 || sent[6].Content != "n6" {
		t.Fatalf("the server recorded %d messages, want 7 in order", len(sent))
	}
	if n := srv.Stats().RateLimited - before; n > 1 {
		t.Fatalf("discordgo was refused %d times; it should wait out the advertised reset", n)
	}
}

func TestMessageChecks(t *testing.T) {
	srv := dctest.New(t)
	srv.SendText(room, alice, "hello")
	path := "/channels/" + room.ID + "/messages"
	for _, tc := range []struct {
		name string
		body any
		code float64
	}{
		{"empty", map[string]string{"content": ""}, 50006},
		{"too long", map[string]string{"content": strings.Repeat("x", 2001)}, 50035},
		{"a row of six buttons", map[string]any{"content": "x", "components": []any{map[string]any{"type": 1, "components": []any{
			btn("a"), btn("b"), btn("c"), btn("d"), btn("e"), btn("f")}}}}, 50035},
	} {
		code, _, body := call(t, srv, "POST", path, srv.Token(), tc.body)
		if code != 400 || body["code"] != tc.code {
			t.Errorf("%s: got %d %v, want 400 with code %v", tc.name, code, body, tc.code)
		}
	}
	if code, _, _ := call(t, srv, "POST", "/channels/999/messages", srv.Token(), map[string]string{"content": "x"}); code != 404 {
		t.Errorf("an unknown channel got %d, want 404", code)
	}
}

func btn(id string) map[string]any {
	return map[string]any{"type": 2, "style": 1, "label": id, "custom_id": id}
}

// events collects what a discordgo session receives.
type events struct {
	mu   sync.Mutex
	msgs []*discordgo.MessageCreate
	ins  []*discordgo.InteractionCreate
}

func (e *events) message(_ *discordgo.Session, m *discordgo.MessageCreate) {
	e.mu.Lock()
	e.msgs = append(e.msgs, m)
	e.mu.Unlock()
}

func (e *events) interaction(_ *discordgo.Session, i *discordgo.InteractionCreate) {
	e.mu.Lock()
	e.ins = append(e.ins, i)
	e.mu.Unlock()
}

func (e *events) counts() (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.msgs), len(e.ins)
}

func TestGatewayAndInteractions(t *testing.T) {
	srv := dctest.New(t)
	s := client(t, srv, srv.Token())
	ev := &events{}
	s.AddHandler(ev.message)
	s.AddHandler(ev.interaction)
	if err := s.Open(); err != nil {
		t.Fatalf("discordgo could not connect: %v", err)
	}
	defer s.Close()
	srv.WaitFor(t, "a ready session", func() bool { return srv.Connected() == 1 })

	srv.SendText(room, alice, srv.Mention()+" hello")
	id := srv.RunCommand(room, alice, "price", map[string]string{"token": "ETH"})
	srv.WaitFor(t, "a message and a command at the client", func() bool { m, i := ev.counts(); return m == 1 && i == 1 })
	m, in := ev.msgs[0], ev.ins[0].Interaction
	if m.Author.ID != alice.ID || len(m.Mentions) != 1 || m.Mentions[0].ID != srv.Bot().ID || m.GuildID != room.GuildID {
		t.Fatalf("MESSAGE_CREATE arrived as %+v", m.Message)
	}
	data := in.ApplicationCommandData()
	if in.ID != id || data.Name != "price" || data.Options[0].StringValue() != "ETH" || in.Member.User.ID != alice.ID {
		t.Fatalf("INTERACTION_CREATE arrived as %+v / %+v", in, data)
	}

	if err := s.InteractionRespond(in, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}); err != nil {
		t.Fatal(err)
	}
	err := s.InteractionRespond(in, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource})
	var re *discordgo.RESTError
	if !errors.As(err, &re) || re.Message == nil || re.Message.Code != 40060 {
		t.Fatalf("a second answer to one interaction: %v, want 40060 already acknowledged", err)
	}
	content := "ETH is 3,000 USD"
	if _, err := s.InteractionResponseEdit(in, &discordgo.WebhookEdit{Content: &content, Components: &[]discordgo.MessageComponent{
		discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.Button{Label: "OK", CustomID: "ok", Style: discordgo.PrimaryButton}}},
	}}); err != nil {
		t.Fatalf("edit the original answer: %v", err)
	}
	ans, ok := srv.Answer(id)
	if !ok || ans.Content != content || len(ans.Buttons) != 1 {
		t.Fatalf("the recorded answer is %+v", ans)
	}

	press := srv.PressButton(room, alice, ans.ID, "ok")
	srv.WaitFor(t, "the press at the client", func() bool { _, i := ev.counts(); return i == 2 })
	pin := ev.ins[1].Interaction
	if pin.ID != press || pin.MessageComponentData().CustomID != "ok" || pin.Message == nil || pin.Message.ID != ans.ID {
		t.Fatalf("the press arrived as %+v", pin)
	}
	if err := s.InteractionRespond(pin, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseUpdateMessage,
		Data: &discordgo.InteractionResponseData{Content: "pressed", Components: []discordgo.MessageComponent{}}}); err != nil {
		t.Fatal(err)
	}
	if up, _ := srv.Answer(press); up.Kind != "update" || up.Content != "pressed" || len(up.Buttons) != 0 {
		t.Fatalf("the press's update is %+v", up)
	}
}

// identify dials the gateway, reads HELLO and identifies with token.
func identify(t *testing.T, srv *dctest.Server, token string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL(), "http")+"/gateway/?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	var hello struct {
		Op int `json:"op"`
		D  struct {
			Interval int `json:"heartbeat_interval"`
		} `json:"d"`
	}
	if err := ws.ReadJSON(&hello); err != nil || hello.Op != 10 || hello.D.Interval <= 0 {
		t.Fatalf("HELLO: %+v %v", hello, err)
	}
	if err := ws.WriteJSON(map[string]any{"op": 2, "d": map[string]any{"token": token, "intents": 513, "properties": map[string]string{}}}); err != nil {
		t.Fatal(err)
	}
	return ws
}

// closeCode reads until the connection closes and returns its close code.
func closeCode(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("the connection ended without a close code: %v", err)
		}
	}
}

func TestGatewayRefusesTokens(t *testing.T) {
	srv := dctest.New(t)
	if code := closeCode(t, identify(t, srv, "wrong")); code != 4004 {
		t.Fatalf("IDENTIFY with a wrong token closed with %d, want 4004", code)
	}

	ws := identify(t, srv, srv.Token())
	var ready struct {
		Op   int    `json:"op"`
		Type string `json:"t"`
	}
	if err := ws.ReadJSON(&ready); err != nil || ready.Type != "READY" {
		t.Fatalf("after IDENTIFY: %+v %v", ready, err)
	}
	if err := ws.WriteJSON(map[string]any{"op": 1, "d": 1}); err != nil {
		t.Fatal(err)
	}
	var ack struct {
		Op int `json:"op"`
	}
	if err := ws.ReadJSON(&ack); err != nil || ack.Op != 11 {
		t.Fatalf("a heartbeat was answered %+v %v, want op 11", ack, err)
	}
	srv.Revoke()
	if code := closeCode(t, ws); code != 4004 {
		t.Fatalf("a revoked token's session closed with %d, want 4004", code)
	}
}

func TestFilesAndDMs(t *testing.T) {
	srv := dctest.New(t)
	s := client(t, srv, srv.Token())
	dm, err := s.UserChannelCreate(alice.ID)
	if err != nil || dm.ID != srv.DM(alice).ID {
		t.Fatalf("UserChannelCreate: %+v %v, want the server's DM channel", dm, err)
	}
	png := []byte("\x89PNG\r\n\x1a\nrest")
	_, err = s.ChannelMessageSendComplex(dm.ID, &discordgo.MessageSend{Content: "chart",
		Files: []*discordgo.File{{Name: "chart.png", ContentType: "image/png", Reader: bytes.NewReader(png)}}})
	if err != nil {
		t.Fatal(err)
	}
	sent := srv.WaitSent(t, dm.ID, 1)
	if len(sent[0].Files) != 1 || sent[0].Files[0].Name != "chart.png" || !bytes.Equal(sent[0].Files[0].Data, png) {
		t.Fatalf("the upload was recorded as %+v", sent[0].Files)
	}
}
