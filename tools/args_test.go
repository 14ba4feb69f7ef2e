package tools

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// Decoders are reused: a value decoded after any mix of good and bad
// arguments is decoded as by a fresh decoder, and bad arguments are
// refused with the same error every time.
func TestDecodeReused(t *testing.T) {
	type args struct {
		Token  string `json:"token"`
		Amount string `json:"amount"`
		Bps    int    `json:"bps"`
	}
	cases := []struct {
		in      string
		want    args
		wantErr string
	}{
		{in: `{"token":"USDC","amount":"1.5"}`, want: args{Token: "USDC", Amount: "1.5"}},
		{in: `{"token":"ETH","extra":1}`, wantErr: `unknown argument "extra"`},
		{in: ` {"bps": 30} `, want: args{Bps: 30}},
		{in: `{"bps":"30"}`, wantErr: `argument "bps" must be a number, not a JSON string`},
		{in: `{"token":"DAI"} {"token":"WETH"}`, wantErr: "nothing after it"},
		{in: `{"token":"DAI"} x`, wantErr: "nothing after it"},
		{in: `{"token":`, wantErr: "not valid JSON"},
		{in: `{"TOKEN":"dai"}`, want: args{Token: "dai"}}, // encoding/json matches names without case
		{in: "{}\n", want: args{}},
		{in: `{"amount":"` + strings.Repeat("9", 5000) + `"}`, want: args{Amount: strings.Repeat("9", 5000)}},
	}
	for range 3 {
		for _, c := range cases {
			var got args
			err := Decode("t", json.RawMessage(c.in), &got)
			switch {
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("%s: error %v, want %q", c.in, err, c.wantErr)
			case c.wantErr == "" && err != nil:
				t.Fatalf("%s: %v", c.in, err)
			case c.wantErr == "" && got != c.want:
				t.Fatalf("%s: got %+v, want %+v", c.in, got, c.want)
			}
		}
	}
}

// Typed tools decode into pooled values: no call sees another's arguments.
func TestFuncArgsNotShared(t *testing.T) {
	type args struct {
		A string   `json:"a"`
		L []string `json:"l"`
	}
	tool := Func("f", "", nil, func(_ context.Context, a args) (Result, error) {
		return Result{Data: a}, nil
	})
	first, err := tool.Call(context.Background(), json.RawMessage(`{"a":"x","l":["1","2"]}`))
	if err != nil {
		t.Fatal(err)
	}
	second, err := tool.Call(context.Background(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Data.(args); got.A != "" || got.L != nil {
		t.Fatalf("the second call saw %+v", got)
	}
	if got := first.Data.(args); got.A != "x" || len(got.L) != 2 {
		t.Fatalf("the first call's arguments changed: %+v", got)
	}
}
