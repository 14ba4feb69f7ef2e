package evm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// scripted is a JSON-RPC server whose answers a test writes: for each
// method, the raw JSON of the result, or a raw HTTP body when it does not
// start with "{"/"\""/digit (garbage).
func scripted(t *testing.T, answers map[string]func(params []json.RawMessage) string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		f, ok := answers[req.Method]
		if !ok && req.Method == "eth_getBlockByNumber" && len(req.Params) > 0 && string(req.Params[0]) == `"0x0"` {
			// Dial reads the genesis block; a script that does not care
			// about it gets one.
			f, ok = constant(`{"number":"0x0","hash":"0x00000000000000000000000000000000000000000000000000000000000000aa"}`), true
		}
		if !ok {
			f = answers["*"]
		}
		if f == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"error":{"code":-32601,"message":"the method does not exist"}}`))
			return
		}
		res := f(req.Params)
		if strings.HasPrefix(res, "HTTP ") {
			http.Error(w, "upstream exploded", 502)
			return
		}
		if strings.HasPrefix(res, "RAW ") {
			_, _ = w.Write([]byte(strings.TrimPrefix(res, "RAW ")))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":` + res + `}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func constant(s string) func([]json.RawMessage) string {
	return func([]json.RawMessage) string { return s }
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDialUnreachable(t *testing.T) {
	addr := closedPort(t)
	url := "http://user:hunter2@" + addr + "/v3/SECRETAPIKEY?token=abc"
	_, err := Dial(context.Background(), url)
	var rerr *RPCError
	if !errors.As(err, &rerr) || !rerr.Unreachable {
		t.Fatalf("err = %#v", err)
	}
	msg := err.Error()
	for _, want := range []string{"RPC http://" + addr, "is not reachable", "check its URL", "refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	for _, secret := range []string{"SECRETAPIKEY", "hunter2", "token=abc"} {
		if strings.Contains(msg, secret) {
			t.Errorf("%q leaks %q", msg, secret)
		}
	}
	if strings.Count(msg, "\n") != 0 {
		t.Errorf("message is not one line: %q", msg)
	}
}

func TestDialGarbage(t *testing.T) {
	for _, tt := range []struct {
		name, answer, want string
	}{
		{"html", "RAW <html>hello</html>", "invalid answer to eth_chainId"},
		{"empty body", "RAW ", "invalid answer"},
		{"number", "1337", "invalid answer"},
		{"object", `{"a":1}`, "invalid answer"},
		{"null", "null", "invalid answer"},
		{"zero chain", `"0x0"`, "not a valid chain id"},
		{"huge chain", `"0x1` + strings.Repeat("0", 20) + `"`, "not a valid chain id"},
		{"http 502", "HTTP ", "HTTP 502"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := scripted(t, map[string]func([]json.RawMessage) string{"eth_chainId": constant(tt.answer)})
			_, err := Dial(context.Background(), srv.URL, WithRequestTimeout(5*time.Second))
			var rerr *RPCError
			if !errors.As(err, &rerr) || rerr.Unreachable || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestDialChainIDMismatch(t *testing.T) {
	srv := scripted(t, map[string]func([]json.RawMessage) string{"eth_chainId": constant(`"0x539"`)})
	c, err := Dial(context.Background(), srv.URL, WithChainID(big.NewInt(1337)))
	if err != nil || c.Chain() != "1337" {
		t.Fatal(c, err)
	}
	c.Close()
	if _, err := Dial(context.Background(), srv.URL, WithChainID(big.NewInt(1))); err == nil || !strings.Contains(err.Error(), "serves chain 1337, but chain 1 was configured") {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	_, err := Dial(context.Background(), srv.URL, WithRequestTimeout(50*time.Millisecond))
	var rerr *RPCError
	if !errors.As(err, &rerr) || !rerr.Unreachable || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("err = %v", err)
	}
}

func TestERC20Answers(t *testing.T) {
	word := func(v string) string { return `"0x` + w32(v) + `"` }
	abiStr := func(s string) string { return `"` + hexutil.Encode(encodeABIString(s)) + `"` }
	token := common.HexToAddress(tokenAddr)
	tests := []struct {
		name              string
		decimals, symbol  string
		wantErr           string
		wantSym           string
		wantDec           uint8
		balance, wantBalE string
	}{
		{name: "good", decimals: word("06"), symbol: abiStr("USDC"), wantSym: "USDC", wantDec: 6},
		{name: "bytes32 symbol", decimals: word("12"), symbol: `"0x` + hexutil.Encode([]byte("MKR"))[2:] + strings.Repeat("0", 58) + `"`, wantSym: "MKR", wantDec: 18},
		{name: "decimals 40 bytes", decimals: `"0x` + w32("06") + "0000000000000000" + `"`, symbol: abiStr("X"), wantErr: "40 bytes"},
		{name: "decimals 256", decimals: word("0100"), symbol: abiStr("X"), wantErr: "more than 255"},
		{name: "decimals empty (EOA)", decimals: `"0x"`, symbol: abiStr("X"), wantErr: "no contract code"},
		{name: "decimals wrong JSON type", decimals: `6`, symbol: abiStr("X"), wantErr: "invalid answer to eth_call"},
		{name: "decimals not hex", decimals: `"0xzz"`, symbol: abiStr("X"), wantErr: "invalid answer to eth_call"},
		{name: "symbol with newline", decimals: word("06"), symbol: abiStr("US\nDC"), wantErr: "control"},
		{name: "symbol too long", decimals: word("06"), symbol: abiStr(strings.Repeat("A", 40)), wantErr: "longer than"},
		{name: "symbol garbage", decimals: word("06"), symbol: word("05"), wantErr: "NUL"},
		{name: "symbol trailing bytes", decimals: word("06"), symbol: `"` + hexutil.Encode(encodeABIString("USDC")) + "00" + `"`, wantErr: "not an ABI-encoded string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := scripted(t, map[string]func([]json.RawMessage) string{
				"eth_chainId": constant(`"0x539"`),
				"eth_call": func(p []json.RawMessage) string {
					var msg struct {
						Input string `json:"input"`
						Data  string `json:"data"`
					}
					_ = json.Unmarshal(p[0], &msg)
					in := msg.Input + msg.Data
					switch {
					case strings.Contains(in, hexutil.Encode(selDecimals[:])[2:]):
						return tt.decimals
					case strings.Contains(in, hexutil.Encode(selSymbol[:])[2:]):
						return tt.symbol
					case strings.Contains(in, hexutil.Encode(selBalanceOf[:])[2:]):
						return word("2a")
					}
					return `"0x"`
				},
			})
			c, err := Dial(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			info, err := c.ERC20Info(context.Background(), token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), token.Hex()) {
					t.Fatalf("error does not name the token: %v", err)
				}
				return
			}
			if err != nil || info.Symbol != tt.wantSym || info.Decimals != tt.wantDec || info.Address != token.Hex() {
				t.Fatalf("%+v %v", info, err)
			}
			bal, err := c.TokenBalance(context.Background(), token, common.HexToAddress(rcptAddr))
			if err != nil || bal.Int64() != 42 {
				t.Fatal(bal, err)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8545":                     "http://127.0.0.1:8545",
		"https://mainnet.infura.io/v3/abcdef":       "https://mainnet.infura.io/…",
		"wss://u:p@eth.example.com/ws?key=1":        "wss://eth.example.com/…",
		"/home/me/.ethereum/geth.ipc":               "/home/me/.ethereum/geth.ipc",
		"http://127.0.0.1:8545/":                    "http://127.0.0.1:8545",
		"https://rpc.example.com/?apikey=topsecret": "https://rpc.example.com/…",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
