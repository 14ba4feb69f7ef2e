package dctest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Gateway opcodes, as Discord numbers them.
const (
	opDispatch     = 0
	opHeartbeat    = 1
	opIdentify     = 2
	opResume       = 6
	opHello        = 10
	opHeartbeatAck = 11
)

// heartbeatInterval is what HELLO asks for, in milliseconds (Discord's usual value).
const heartbeatInterval = 41250

// conn is one gateway connection.
type conn struct {
	s   *Server
	ws  *websocket.Conn
	wmu sync.Mutex // gorilla allows one writer at a time

	mu      sync.Mutex
	seq     int64
	authed  bool
	session string
}

func (c *conn) ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed
}

type frame struct {
	Op   int             `json:"op"`
	D    json.RawMessage `json:"d,omitempty"`
	S    *int64          `json:"s,omitempty"`
	Type string          `json:"t,omitempty"`
}

func (c *conn) send(op int, typ string, d any) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	f := frame{Op: op, D: raw, Type: typ}
	if op == opDispatch {
		c.mu.Lock()
		c.seq++
		seq := c.seq
		c.mu.Unlock()
		f.S = &seq
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteJSON(f)
}

// closeWith ends the connection with a gateway close code, as Discord does when it will
// not take a session (4004: the token was refused).
func (c *conn) closeWith(code int, reason string) {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.ws.Close()
}

// gateway serves one websocket: HELLO, then IDENTIFY (or RESUME) answered with READY (or
// RESUMED), heartbeats acknowledged, and dispatches until either side closes.
func (s *Server) gateway(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{s: s, ws: ws}
	s.mu.Lock()
	s.conns[c] = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.notifyLocked()
		s.mu.Unlock()
		ws.Close()
		s.wg.Done()
	}()
	if c.send(opHello, "", map[string]int{"heartbeat_interval": heartbeatInterval}) != nil {
		return
	}
	for {
		var f frame
		if err := ws.ReadJSON(&f); err != nil {
			if _, bad := err.(*json.SyntaxError); bad {
				c.closeWith(closeDecode, "Error while decoding payload.")
			}
			return
		}
		if !s.onFrame(c, f) {
			return
		}
	}
}

// onFrame handles one frame from the bot; false: the connection is done.
func (s *Server) onFrame(c *conn, f frame) bool {
	switch f.Op {
	case opHeartbeat:
		s.mu.Lock()
		s.stats.Heartbeats++
		s.mu.Unlock()
		return c.send(opHeartbeatAck, "", nil) == nil
	case opIdentify, opResume:
		var d struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(f.D, &d)
		if !s.tokenOK(d.Token) {
			c.closeWith(closeAuthFailed, "Authentication failed.")
			return false
		}
		return s.welcome(c, f.Op == opResume)
	default:
		if !c.ready() {
			c.closeWith(closeNotAuthed, "Not authenticated.")
			return false
		}
	}
	return true
}

// tokenOK accepts the token with or without discordgo's "Bot " prefix.
func (s *Server) tokenOK(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.revoked && strings.TrimPrefix(token, "Bot ") == s.token
}

// welcome answers IDENTIFY with READY (or RESUME with RESUMED) and then delivers what was
// dispatched while no session was ready, as Discord replays missed events on resume. The
// server's lock is held throughout, so no dispatch overtakes READY.
func (s *Server) welcome(c *conn, resumed bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	if c.session == "" {
		c.session = "dctest-session-" + s.snowflakeLocked()
	}
	session := c.session
	c.mu.Unlock()
	var err error
	if resumed {
		err = c.send(opDispatch, "RESUMED", map[string]any{})
	} else {
		err = c.send(opDispatch, "READY", map[string]any{
			"v": 10, "user": s.botWire(), "session_id": session, "guilds": []any{},
			"private_channels": []any{}, "application": map[string]any{"id": botID, "flags": 0},
			"resume_gateway_url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway",
		})
	}
	for _, ev := range s.backlog {
		if err == nil {
			err = c.send(opDispatch, ev.typ, ev.d)
		}
	}
	if err != nil {
		return false
	}
	s.backlog = nil
	c.mu.Lock()
	c.authed = true
	c.mu.Unlock()
	s.stats.Identified++
	s.notifyLocked()
	return true
}

// event is a dispatch waiting for a session.
type event struct {
	typ string
	d   any
}

// dispatch sends an event to every ready session, or keeps it for the next one.
func (s *Server) dispatch(typ string, d any) {
	s.mu.Lock()
	var ready []*conn
	for c := range s.conns {
		if c.ready() {
			ready = append(ready, c)
		}
	}
	if len(ready) == 0 {
		s.backlog = append(s.backlog, event{typ, d})
	}
	s.mu.Unlock()
	for _, c := range ready {
		_ = c.send(opDispatch, typ, d)
	}
}
