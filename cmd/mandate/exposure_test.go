package main

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
)

// Approve, then pull: an approval is a spend. A spender that pulls each
// allowance with transferFrom as soon as it is granted gets no more than the
// daily limit, however many approvals are asked for, through the CLI as a
// script would call it.
func TestCLIApproveThenPull(t *testing.T) {
	cleanEnv(t)
	d := devnettest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url, err := d.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wallet, _ := devnettest.Account(t, d)
	spender, spenderKey := devnettest.Account(t, d)
	usdc := d.Address(devnet.USDC)
	pol := filepath.Join(t.TempDir(), "p.yaml")
	body := fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
recipients:
  deny: ["0x000000000000000000000000000000000000dEaD"]
limits:
  per_tx: {USDC: "1000"}
  daily: {USDC: "3000"}
approvals:
  max: {USDC: "1000"}
  unlimited: false
`, usdc.Hex())
	if err := os.WriteFile(pol, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MANDATE_RPC_URL", url)
	t.Setenv("MANDATE_PRIVATE_KEY", wallet.PrivateKey)
	t.Setenv("MANDATE_POLICY", pol)
	t.Setenv("MANDATE_DB", "sqlite:"+filepath.Join(t.TempDir(), "m.db"))

	approve := func(args string) (int, string) {
		code, out, errs := cli(t, "", "tools", "call", "token_approve", args)
		return code, out + errs
	}
	pull := func() {
		t.Helper()
		data := append(crypto.Keccak256([]byte("transferFrom(address,address,uint256)"))[:4], common.LeftPadBytes(wallet.Address.Bytes(), 32)...)
		data = append(data, common.LeftPadBytes(spender.Address.Bytes(), 32)...)
		data = append(data, common.LeftPadBytes(big.NewInt(1000e6).Bytes(), 32)...)
		devnettest.Send(t, d, spenderKey, usdc, nil, data)
	}
	before := balanceOf(t, d, usdc, spender.Address)
	one := `{"token":"USDC","spender":"` + spender.Address.Hex() + `","amount":"1000"}`
	for i := range 5 {
		code, out := approve(one)
		if i < 3 {
			if code != 0 {
				t.Fatalf("approval %d: exit %d: %s", i+1, code, out)
			}
			pull()
			continue
		}
		if code != 1 || !strings.Contains(out, "limits.daily.USDC") {
			t.Fatalf("approval %d past the daily limit: exit %d: %s", i+1, code, out)
		}
	}
	got := new(big.Int).Sub(balanceOf(t, d, usdc, spender.Address), before)
	if got.Cmp(big.NewInt(3000e6)) != 0 {
		t.Fatalf("the spender pulled %s base units; the daily limit is 3,000 USDC", got)
	}
	// A transfer is charged against the same window the approvals used.
	code, out, errs := cli(t, "", "tools", "call", "wallet_transfer", `{"to":"`+spender.Address.Hex()+`","token":"USDC","amount":"1"}`)
	if code != 1 || !strings.Contains(out+errs, "limits.daily.USDC") {
		t.Fatalf("transfer after the approvals used the day: exit %d: %s%s", code, out, errs)
	}
	// A revoke grants nothing: it passes with the day used up.
	if code, out := approve(`{"token":"USDC","spender":"` + spender.Address.Hex() + `","amount":"0"}`); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, out)
	}
	for name, tc := range map[string]struct{ args, want string }{
		"unlimited":          {`{"token":"USDC","spender":"` + spender.Address.Hex() + `","amount":"unlimited"}`, "approvals.unlimited"},
		"to the token":       {`{"token":"USDC","spender":"` + usdc.Hex() + `","amount":"1"}`, "token"},
		"to the wallet":      {`{"token":"USDC","spender":"` + wallet.Address.Hex() + `","amount":"1"}`, "wallet"},
		"max uint256":        {`{"token":"USDC","spender":"` + spender.Address.Hex() + `","amount":"115792089237316195423570985008687907853269984665640564039457584007913129.639935"}`, "unlimited"},
		"over approvals.max": {`{"token":"USDC","spender":"` + spender.Address.Hex() + `","amount":"1000.000001"}`, "approvals.max"},
	} {
		code, out := approve(tc.args)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want a refusal naming %q: %s", name, code, tc.want, out)
		}
	}
}

func balanceOf(t *testing.T, d *devnet.Devnet, token, who common.Address) *big.Int {
	t.Helper()
	data := append(crypto.Keccak256([]byte("balanceOf(address)"))[:4], common.LeftPadBytes(who.Bytes(), 32)...)
	var out string
	if err := d.RPC().Call(&out, "eth_call", map[string]string{"to": token.Hex(), "data": "0x" + common.Bytes2Hex(data)}, "latest"); err != nil {
		t.Fatal(err)
	}
	v, ok := new(big.Int).SetString(strings.TrimPrefix(out, "0x"), 16)
	if !ok {
		t.Fatalf("balanceOf returned %q", out)
	}
	return v
}
