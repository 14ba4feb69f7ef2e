// Package rpcfault is an HTTP JSON-RPC proxy that breaks chosen calls on
// their way to a real node, so tests can see what a sender does when the
// network fails at the worst moment: the node got the transaction but the
// answer was lost, or it never got it and the sender cannot tell.
//
// It is a real proxy to a real node (the devnet served over HTTP in the
// tests), not a fake node: every call it does not break is forwarded
// byte for byte and answered by the node, so the sender under test speaks
// the real protocol and the node's state is the real consequence of what
// got through.
//
//	p, err := rpcfault.New(upstreamURL)
//	defer p.Close()
//	p.On("eth_sendRawTransaction", rpcfault.DropAfterForward, rpcfault.Times(1))
//	client := dial(p.URL())
//
// Faults are chosen per JSON-RPC method and per call count, so a test can
// break "the first eth_sendRawTransaction" and let the retry through. The
// calls of a JSON-RPC batch are counted and matched one by one.
//
// Only JSON-RPC over HTTP POST is interpreted; other requests are forwarded
// untouched, and WebSocket is not proxied.
package rpcfault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// AnyMethod in On matches every method.
const AnyMethod = "*"

// maxBody bounds a request or response body the proxy reads, above the
// devnet's own request limit, so a runaway test cannot exhaust memory.
const maxBody = 32 << 20

type faultKind int

const (
	kindDrop faultKind = iota + 1
	kindStatus
	kindGarbage
	kindDelay
	kindRPCError
)

// Fault is what happens to a call a rule matches. Faults act before the
// call is forwarded unless made with AfterForward: the difference between
// the two is the whole point, since a sender cannot tell them apart from
// its side but the node's state differs.
type Fault struct {
	kind    faultKind
	after   bool
	delay   time.Duration
	status  int
	code    int
	message string
}

// The faults that need no parameter.
var (
	// DropBeforeForward closes the connection without forwarding or
	// answering: the node never sees the call.
	DropBeforeForward = Fault{kind: kindDrop}
	// DropAfterForward forwards the call, lets the node answer, and
	// closes the connection without passing the answer on: the node acted,
	// the sender saw only a broken connection.
	DropAfterForward = Fault{kind: kindDrop, after: true}
	// HTTP500 answers 500 Internal Server Error without forwarding, as an
	// overloaded provider does.
	HTTP500 = HTTPStatus(http.StatusInternalServerError)
	// Garbage answers 200 with a body that is not JSON (an HTML error page,
	// as a misconfigured gateway sends), without forwarding.
	Garbage = Fault{kind: kindGarbage}
)

// HTTPStatus answers with the HTTP status code and its text as the body.
func HTTPStatus(code int) Fault { return Fault{kind: kindStatus, status: code} }

// Delay holds the call for d before forwarding it (or, AfterForward,
// holds the node's answer for d), and otherwise passes it through. A
// sender that gives up meanwhile closes the connection; a call delayed
// before forwarding is then never forwarded.
func Delay(d time.Duration) Fault { return Fault{kind: kindDelay, delay: d} }

// RPCError answers the call with a JSON-RPC error object (code, message)
// in place of its result; the other calls of a batch are forwarded and
// answered by the node.
func RPCError(code int, message string) Fault {
	return Fault{kind: kindRPCError, code: code, message: message}
}

// AfterForward returns f acting once the node has answered: the call
// reaches the node, and the sender gets the fault instead of the answer.
func (f Fault) AfterForward() Fault { f.after = true; return f }

func (f Fault) String() string {
	var s string
	switch f.kind {
	case kindDrop:
		s = "drop"
	case kindStatus:
		s = fmt.Sprintf("HTTP %d", f.status)
	case kindGarbage:
		s = "garbage"
	case kindDelay:
		s = "delay " + f.delay.String()
	case kindRPCError:
		s = fmt.Sprintf("JSON-RPC error %d %q", f.code, f.message)
	default:
		return "no fault"
	}
	if f.after {
		return s + " after forwarding"
	}
	return s + " before forwarding"
}

// Option selects which of a method's calls a rule breaks.
type Option func(*Rule)

// Times makes a rule break n calls and then let every later one through.
// Without it a rule breaks every call it matches.
func Times(n int) Option { return func(r *Rule) { r.times = n } }

// Skip lets the first n matching calls through before the rule breaks
// any: Skip(1), Times(1) breaks the second call only.
func Skip(n int) Option { return func(r *Rule) { r.skip = n } }

// Rule is one fault installed with On. Calls are counted from when the
// rule was added.
type Rule struct {
	p           *Proxy
	method      string
	fault       Fault
	skip, times int // times < 0: unlimited
	seen, fired int
}

// Fired is how many calls the rule has broken, so a test can tell a fault
// that never happened from one the sender survived.
func (r *Rule) Fired() int {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.fired
}

// Proxy forwards JSON-RPC over HTTP to one upstream URL, breaking the
// calls its rules select. It is safe for concurrent use; it is an
// http.Handler, and New serves it on a loopback port of its own.
type Proxy struct {
	upstream string
	client   *http.Client
	srv      *http.Server
	url      string

	mu    sync.Mutex
	rules []*Rule
	calls map[string]int
}

// New starts a proxy to upstream (an http:// JSON-RPC URL) on a free
// loopback port. Close stops it.
func New(upstream string) (*Proxy, error) {
	if !strings.HasPrefix(upstream, "http://") && !strings.HasPrefix(upstream, "https://") {
		return nil, fmt.Errorf("rpcfault: upstream %q is not an http(s) URL; WebSocket is not proxied", upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rpcfault: listen: %w", err)
	}
	p := newProxy(upstream)
	p.url = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("rpcfault: serve", slog.String("error", err.Error()))
		}
	}()
	return p, nil
}

func newProxy(upstream string) *Proxy {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Proxy{upstream: upstream, client: &http.Client{Transport: tr}, calls: map[string]int{}}
}

// URL is where senders reach the proxy ("http://127.0.0.1:PORT").
func (p *Proxy) URL() string { return p.url }

// Close stops serving, cutting any call in flight.
func (p *Proxy) Close() error {
	if p.srv == nil {
		return nil
	}
	err := p.srv.Close()
	p.client.CloseIdleConnections()
	return err
}

// On adds a rule: calls of method (AnyMethod: every method) get f, as opts
// select. When several rules would break one call, the first added
// applies; the others still count the call.
func (p *Proxy) On(method string, f Fault, opts ...Option) *Rule {
	r := &Rule{p: p, method: method, fault: f, times: -1}
	for _, o := range opts {
		o(r)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
	return r
}

// Clear removes every rule: from now on every call goes through.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Calls is how many calls of method the proxy has received, broken or not
// (each call of a batch counts). Requests that are not JSON-RPC count
// under "".
func (p *Proxy) Calls(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

// call is one JSON-RPC request of an HTTP request, with the fault chosen
// for it (nil: none).
type call struct {
	raw    json.RawMessage
	id     json.RawMessage // nil for a notification
	method string
	fault  *Fault
}

// parse reads a JSON-RPC body: one request or a batch. ok is false when it
// is neither, and the body is then forwarded untouched.
func parse(body []byte) (calls []*call, batch, ok bool) {
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if json.Unmarshal(body, &raws) != nil || len(raws) == 0 {
			return nil, false, false
		}
		batch = true
	} else {
		raws = []json.RawMessage{body}
	}
	for _, raw := range raws {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(raw, &m) != nil {
			return nil, false, false
		}
		if string(m.ID) == "null" {
			m.ID = nil
		}
		calls = append(calls, &call{raw: raw, id: m.ID, method: m.Method})
	}
	return calls, batch, true
}

// choose counts the calls and picks each one's fault, in one critical
// section, so concurrent requests each see a consistent count.
func (p *Proxy) choose(calls []*call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range calls {
		p.calls[c.method]++
		for _, r := range p.rules {
			if r.method != AnyMethod && r.method != c.method {
				continue
			}
			r.seen++
			hit := r.seen > r.skip && (r.times < 0 || r.seen <= r.skip+r.times)
			if hit && c.fault == nil {
				f := r.fault
				c.fault = &f
				r.fired++
			}
		}
	}
}

// plan is what one HTTP request's faults add up to: delays before and
// after forwarding (summed over its calls), and the first connection-level
// fault (drop, status, garbage), which answers for the whole request since
// a batch has one HTTP answer.
type plan struct {
	before, after time.Duration
	conn          *Fault
}

func planOf(calls []*call) plan {
	var pl plan
	for _, c := range calls {
		f := c.fault
		switch {
		case f == nil || f.kind == kindRPCError:
		case f.kind == kindDelay && f.after:
			pl.after += f.delay
		case f.kind == kindDelay:
			pl.before += f.delay
		case pl.conn == nil:
			pl.conn = f
		}
	}
	return pl
}

// ServeHTTP forwards one HTTP request, applying the faults its calls drew.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "rpcfault: request body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	calls, batch, ok := parse(body)
	if r.Method != http.MethodPost || !ok {
		p.choose([]*call{{}})
		p.passThrough(w, r, body)
		return
	}
	p.choose(calls)
	pl := planOf(calls)
	if !sleep(r.Context(), pl.before) {
		return // the sender gave up: nothing is forwarded
	}
	if pl.conn != nil && !pl.conn.after {
		p.fail(w, *pl.conn)
		return
	}
	fwd, local := split(calls)
	var resp *upstreamResponse
	if len(fwd) > 0 {
		out := body
		if len(local) > 0 { // a batch without the calls answered here
			out = joinBatch(fwd)
		}
		if resp, err = p.forward(r, out); err != nil {
			http.Error(w, "rpcfault: upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
	}
	if !sleep(r.Context(), pl.after) {
		return
	}
	if pl.conn != nil {
		p.fail(w, *pl.conn)
		return
	}
	if !hasRPCError(calls) {
		copyResponse(w, resp)
		return
	}
	answerWithErrors(w, calls, batch, resp)
}

// split separates the calls the node must see from those the proxy
// answers itself (an RPC error before forwarding).
func split(calls []*call) (fwd, local []*call) {
	for _, c := range calls {
		if c.fault != nil && c.fault.kind == kindRPCError && !c.fault.after {
			local = append(local, c)
		} else {
			fwd = append(fwd, c)
		}
	}
	return fwd, local
}

func hasRPCError(calls []*call) bool {
	for _, c := range calls {
		if c.fault != nil && c.fault.kind == kindRPCError {
			return true
		}
	}
	return false
}

func joinBatch(calls []*call) []byte {
	raws := make([]json.RawMessage, len(calls))
	for i, c := range calls {
		raws[i] = c.raw
	}
	out, _ := json.Marshal(raws)
	return out
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// garbage is what Garbage answers: an error page where JSON belongs.
const garbage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n"

// fail answers with a connection-level fault.
func (p *Proxy) fail(w http.ResponseWriter, f Fault) {
	switch f.kind {
	case kindDrop:
		drop(w)
	case kindStatus:
		http.Error(w, http.StatusText(f.status), f.status)
	case kindGarbage:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, garbage)
	}
}

// drop closes the connection with nothing written, the way a crashed
// proxy or a cut link ends a call. It resets the connection (linger 0)
// rather than closing it cleanly, so the sender fails at once on this
// request instead of taking a half-closed connection for an idle one.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

type upstreamResponse struct {
	status int
	header http.Header
	body   []byte
}

// hopHeaders belong to one connection and are not passed on.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

func (p *Proxy) forward(r *http.Request, body []byte) (*upstreamResponse, error) {
	// The node finishes what it was given even if the sender gives up, as
	// a real node would; only the proxy's own Close cuts it short.
	ctx := context.WithoutCancel(r.Context())
	req, err := http.NewRequestWithContext(ctx, r.Method, p.upstream, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxBody {
		return nil, errors.New("response too large")
	}
	return &upstreamResponse{status: resp.StatusCode, header: resp.Header, body: out}, nil
}

func (p *Proxy) passThrough(w http.ResponseWriter, r *http.Request, body []byte) {
	resp, err := p.forward(r, body)
	if err != nil {
		http.Error(w, "rpcfault: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	copyResponse(w, resp)
}

func copyResponse(w http.ResponseWriter, resp *upstreamResponse) {
	for k, vs := range resp.header {
		w.Header()[k] = vs
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.WriteHeader(resp.status)
	w.Write(resp.body)
}

type rpcErrorObject struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcErrorAnswer struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   rpcErrorObject  `json:"error"`
}

// answerWithErrors writes the node's answers with the faulted calls'
// answers replaced by error objects, in the order of the request (the
// specification allows any order; keeping it is kinder to readers).
func answerWithErrors(w http.ResponseWriter, calls []*call, batch bool, resp *upstreamResponse) {
	byID := map[string]json.RawMessage{}
	if resp != nil {
		var answers []json.RawMessage
		if batch {
			_ = json.Unmarshal(resp.body, &answers)
		} else {
			answers = []json.RawMessage{resp.body}
		}
		for _, a := range answers {
			var m struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal(a, &m) == nil {
				byID[string(m.ID)] = a
			}
		}
	}
	var out []json.RawMessage
	for _, c := range calls {
		if c.id == nil {
			continue // a notification has no answer
		}
		if c.fault != nil && c.fault.kind == kindRPCError {
			a, _ := json.Marshal(rpcErrorAnswer{JSONRPC: "2.0", ID: c.id, Error: rpcErrorObject{Code: c.fault.code, Message: c.fault.message}})
			out = append(out, a)
		} else if a, ok := byID[string(c.id)]; ok {
			out = append(out, a)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	switch {
	case batch:
		b, _ := json.Marshal(out)
		w.Write(b)
	case len(out) == 1:
		w.Write(out[0])
	}
}
