package devnet_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"
	ata "github.com/gagliardetto/solana-go/programs/associated-token-account"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/mandatehq/mandate/chains/solana/devnet"
	"github.com/mandatehq/mandate/chains/solana/devnet/soltest"
	"github.com/mandatehq/mandate/policies"
)

func TestHealthAndVersion(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	ctx := context.Background()
	h, err := c.GetHealth(ctx)
	if err != nil || h != rpc.HealthOk {
		t.Fatalf("getHealth = %q, %v; want ok", h, err)
	}
	v, err := c.GetVersion(ctx)
	if err != nil || v.SolanaCore == "" {
		t.Fatalf("getVersion = %+v, %v", v, err)
	}
}

func sign(t *testing.T, c *rpc.Client, ixs []solana.Instruction, blockhash solana.Hash, signers ...solana.PrivateKey) *solana.Transaction {
	t.Helper()
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(signers[0].PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(k solana.PublicKey) *solana.PrivateKey {
		for i := range signers {
			if signers[i].PublicKey().Equals(k) {
				return &signers[i]
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return tx
}

func latest(t *testing.T, c *rpc.Client) solana.Hash {
	t.Helper()
	bh, err := c.GetLatestBlockhash(context.Background(), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return bh.Value.Blockhash
}

func balance(t *testing.T, c *rpc.Client, a solana.PublicKey) uint64 {
	t.Helper()
	b, err := c.GetBalance(context.Background(), a, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return b.Value
}

// feeFor asks the runtime what the message costs; the balance checks below
// hold it to what LiteSVM actually charges.
func feeFor(t *testing.T, c *rpc.Client, tx *solana.Transaction) uint64 {
	t.Helper()
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.GetFeeForMessage(context.Background(), base64.StdEncoding.EncodeToString(msg), rpc.CommitmentFinalized)
	if err != nil || f.Value == nil {
		t.Fatalf("getFeeForMessage = %+v, %v", f, err)
	}
	return *f.Value
}

func TestSOLTransfer(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	ctx := context.Background()
	from := soltest.Account(t, d)
	to := solana.NewWallet().PublicKey()
	const amount = 1_234_567_891

	tx := sign(t, c, []solana.Instruction{system.NewTransferInstruction(amount, from.Address, to).Build()}, latest(t, c), from.SecretKey)
	fee := feeFor(t, c, tx)
	if fee != 5000 {
		t.Errorf("fee = %d, want 5000 lamports for one signature", fee)
	}
	sig, err := c.SendTransaction(ctx, tx)
	if err != nil {
		t.Fatalf("sendTransaction: %v", err)
	}
	st, err := c.GetSignatureStatuses(ctx, true, sig)
	if err != nil || st.Value[0] == nil || st.Value[0].Err != nil || st.Value[0].ConfirmationStatus != rpc.ConfirmationStatusFinalized {
		t.Fatalf("status = %+v, %v; want finalized without error", st, err)
	}
	if got := balance(t, c, to); got != amount {
		t.Errorf("recipient balance = %d, want %d", got, amount)
	}
	if got, want := balance(t, c, from.Address), devnet.AccountLamports-amount-fee; got != want {
		t.Errorf("sender balance = %d, want %d", got, want)
	}
	got, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64})
	if err != nil {
		t.Fatalf("getTransaction: %v", err)
	}
	if got.Meta.Err != nil || got.Meta.Fee != fee || got.Meta.PreBalances[0]-got.Meta.PostBalances[0] != amount+fee || len(got.Meta.LogMessages) == 0 {
		t.Errorf("getTransaction meta = %+v", got.Meta)
	}
	back, err := got.Transaction.GetTransaction()
	if err != nil || back.Signatures[0] != sig {
		t.Errorf("getTransaction transaction = %v, %v; want the sent one", back, err)
	}
}

func TestUSDCTransferChecked(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	ctx := context.Background()
	from := soltest.Account(t, d)
	usdc := d.Mints()["USDC"]
	to := solana.NewWallet()
	src, _, _ := solana.FindAssociatedTokenAddress(from.Address, usdc)
	dst, _, _ := solana.FindAssociatedTokenAddress(to.PublicKey(), usdc)
	const amount = 2_500_001 // 2.500001 USDC

	ixs := []solana.Instruction{
		ata.NewCreateInstruction(from.Address, to.PublicKey(), usdc).Build(),
		token.NewTransferCheckedInstruction(amount, devnet.USDCDecimals, src, usdc, dst, from.Address, nil).Build(),
	}
	if _, err := c.SendTransaction(ctx, sign(t, c, ixs, latest(t, c), from.SecretKey)); err != nil {
		t.Fatalf("sendTransaction: %v", err)
	}
	for _, tc := range []struct {
		acct solana.PublicKey
		want string
	}{{dst, "2500001"}, {src, "999997499999"}} {
		b, err := c.GetTokenAccountBalance(ctx, tc.acct, rpc.CommitmentFinalized)
		if err != nil || b.Value.Amount != tc.want || b.Value.Decimals != devnet.USDCDecimals {
			t.Errorf("getTokenAccountBalance(%s) = %+v, %v; want %s", tc.acct, b, err, tc.want)
		}
	}
	res, err := c.GetTokenAccountsByOwner(ctx, to.PublicKey(), &rpc.GetTokenAccountsConfig{Mint: &usdc},
		&rpc.GetTokenAccountsOpts{Encoding: solana.EncodingJSONParsed})
	if err != nil || len(res.Value) != 1 {
		t.Fatalf("getTokenAccountsByOwner = %+v, %v; want one account", res, err)
	}
	var parsed struct {
		Program string `json:"program"`
		Parsed  struct {
			Type string `json:"type"`
			Info struct {
				Mint        string `json:"mint"`
				Owner       string `json:"owner"`
				TokenAmount struct {
					Amount         string `json:"amount"`
					UIAmountString string `json:"uiAmountString"`
				} `json:"tokenAmount"`
			} `json:"info"`
		} `json:"parsed"`
	}
	if err := json.Unmarshal(res.Value[0].Account.Data.GetRawJSON(), &parsed); err != nil {
		t.Fatal(err)
	}
	info := parsed.Parsed.Info
	if res.Value[0].Pubkey != dst || parsed.Program != "spl-token" || parsed.Parsed.Type != "account" || info.Mint != usdc.String() ||
		info.Owner != to.PublicKey().String() || info.TokenAmount.Amount != "2500001" || info.TokenAmount.UIAmountString != "2.500001" {
		t.Errorf("jsonParsed token account = %s %+v", res.Value[0].Pubkey, parsed)
	}
	byProgram, err := c.GetTokenAccountsByOwner(ctx, from.Address, &rpc.GetTokenAccountsConfig{ProgramId: &solana.TokenProgramID}, nil)
	if err != nil || len(byProgram.Value) != 1 || byProgram.Value[0].Pubkey != src {
		t.Errorf("getTokenAccountsByOwner by program = %+v, %v; want %s", byProgram, err, src)
	}
}

func TestToken2022Mint(t *testing.T) {
	d := soltest.New(t, devnet.WithAccounts(1), devnet.WithToken2022())
	c := d.Client()
	mint := d.Mints()[devnet.Token2022Symbol]
	owner := d.Accounts()[0].Address
	acct, _, _ := solana.FindAssociatedTokenAddressWithProgram(owner, mint, solana.Token2022ProgramID)
	b, err := c.GetTokenAccountBalance(context.Background(), acct, rpc.CommitmentFinalized)
	if err != nil || b.Value.Amount != "1000000000000" {
		t.Fatalf("Token-2022 balance = %+v, %v; want 1000000000000", b, err)
	}
	s, err := c.GetTokenSupply(context.Background(), mint, rpc.CommitmentFinalized)
	if err != nil || s.Value.Amount != "1000000000000" || s.Value.Decimals != 6 {
		t.Fatalf("Token-2022 supply = %+v, %v", s, err)
	}
}

func rpcError(t *testing.T, err error) *jsonrpc.RPCError {
	t.Helper()
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T); want a JSON-RPC error", err, err)
	}
	return re
}

func TestExpiredBlockhashRefused(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	ctx := context.Background()
	from := soltest.Account(t, d)
	to := solana.NewWallet().PublicKey()
	old := latest(t, c)
	if _, err := d.Advance(ctx, 151); err != nil {
		t.Fatal(err)
	}
	valid, err := c.IsBlockhashValid(ctx, old, rpc.CommitmentFinalized)
	if err != nil || valid.Value {
		t.Fatalf("isBlockhashValid(old) = %+v, %v; want false", valid, err)
	}
	tx := sign(t, c, []solana.Instruction{system.NewTransferInstruction(1, from.Address, to).Build()}, old, from.SecretKey)
	_, err = c.SendTransaction(ctx, tx)
	re := rpcError(t, err)
	if re.Code != -32002 || !strings.Contains(re.Message, "Blockhash not found") {
		t.Fatalf("send with expired blockhash: %d %q; want -32002 Blockhash not found", re.Code, re.Message)
	}
	// Without preflight a node takes it and drops it: it never lands.
	sig, err := c.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
	if err != nil {
		t.Fatalf("send without preflight: %v", err)
	}
	st, err := c.GetSignatureStatuses(ctx, true, sig)
	if err != nil || st.Value[0] != nil {
		t.Fatalf("status of the dropped transaction = %+v, %v; want none", st.Value, err)
	}
	if got := balance(t, c, to); got != 0 {
		t.Errorf("recipient balance = %d, want 0", got)
	}
}

func TestInsufficientFundsRefused(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	ctx := context.Background()
	from := soltest.Account(t, d)
	to := solana.NewWallet().PublicKey()
	tx := sign(t, c, []solana.Instruction{system.NewTransferInstruction(devnet.AccountLamports+1, from.Address, to).Build()}, latest(t, c), from.SecretKey)

	sim, err := c.SimulateTransaction(ctx, tx)
	if err != nil || sim.Value.Err == nil || len(sim.Value.Logs) == 0 {
		t.Fatalf("simulateTransaction = %+v, %v; want an error with logs", sim.Value, err)
	}
	_, err = c.SendTransaction(ctx, tx)
	re := rpcError(t, err)
	if re.Code != -32002 || !strings.Contains(re.Message, "Error processing Instruction 0") {
		t.Fatalf("send: %d %q; want -32002 from the simulation", re.Code, re.Message)
	}
	data, _ := json.Marshal(re.Data)
	if !bytes.Contains(data, []byte(`"InstructionError":[0,{"Custom":1}]`)) || !bytes.Contains(data, []byte("insufficient lamports")) {
		t.Errorf("error data = %s; want the System program's InstructionError and its logs", data)
	}
	if got := balance(t, c, from.Address); got != devnet.AccountLamports {
		t.Errorf("sender balance = %d, want %d untouched", got, uint64(devnet.AccountLamports))
	}
}

func httpPostRaw(url, body string) ([]byte, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func post(t *testing.T, url, body string) map[string]any {
	t.Helper()
	b, err := httpPostRaw(url, body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", b, err)
	}
	return out
}

func TestProtocolErrors(t *testing.T) {
	d := soltest.Shared(t)
	for _, tc := range []struct {
		name, body string
		code       float64
	}{
		{"garbage", `{"jsonrpc":"2.0",`, -32700},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"getVoteAccounts"}`, -32601},
		{"not a request", `{"id":1}`, -32600},
		{"bad pubkey", `{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["not-base58!"]}`, -32602},
		{"bad transaction", `{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["AAAA",{"encoding":"base64"}]}`, -32602},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := post(t, d.RPC(), tc.body)
			e, _ := out["error"].(map[string]any)
			if e == nil || e["code"] != tc.code {
				t.Fatalf("answer = %v; want error %v", out, tc.code)
			}
		})
	}
}

func TestDeploymentShape(t *testing.T) {
	d := soltest.Shared(t)
	b, err := json.Marshal(d.Deployment())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		RPC      string `json:"rpc"`
		Accounts []struct {
			Address   string `json:"address"`
			SecretKey string `json:"secretKey"`
		} `json:"accounts"`
		Mints map[string]string `json:"mints"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("deployment %s: %v", b, err)
	}
	if got.RPC != d.RPC() || len(got.Accounts) != 4 || got.Mints["USDC"] != d.Mints()["USDC"].String() {
		t.Fatalf("deployment = %s", b)
	}
	key, err := solana.PrivateKeyFromBase58(got.Accounts[0].SecretKey)
	if err != nil || key.PublicKey().String() != got.Accounts[0].Address {
		t.Fatalf("secretKey does not match address: %v", err)
	}
}

// A command pointed at the devnet learns its mints from the devnet itself;
// a second registration cannot replace them, and an RPC that is not a
// mandate devnet says so.
func TestFetchMints(t *testing.T) {
	d := soltest.Shared(t)
	ctx := context.Background()
	mints, err := devnet.FetchMints(ctx, d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	if mints["USDC"] != d.Mints()["USDC"] {
		t.Fatalf("FetchMints = %v, want USDC %s", mints, d.Mints()["USDC"])
	}
	var ok bool
	err = d.Client().RPCCallForInto(ctx, &ok, "mandate_register", []any{map[string]any{"mints": map[string]string{"USDC": "11111111111111111111111111111111"}}})
	if err == nil {
		t.Fatal("a second mandate_register was accepted")
	}
	if again, _ := devnet.FetchMints(ctx, d.RPC()); again["USDC"] != d.Mints()["USDC"] {
		t.Fatalf("the registered mints changed: %v", again)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`)
	}))
	defer srv.Close()
	if _, err := devnet.FetchMints(ctx, srv.URL); !errors.Is(err, devnet.ErrNotDevnet) {
		t.Fatalf("FetchMints on a cluster: %v, want ErrNotDevnet", err)
	}
}

// WithListen serves on the port asked for, as `mandate devnet --solana --port N` needs.
func TestListenOnPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := devnet.Start(ctx, devnet.WithAccounts(0), devnet.WithListen("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if want := fmt.Sprintf("http://127.0.0.1:%d", port); d.RPC() != want {
		t.Fatalf("RPC = %s, want %s", d.RPC(), want)
	}
	if _, err := d.Client().GetHealth(ctx); err != nil {
		t.Fatal(err)
	}
	// The port is taken now: a second runtime on it fails with the reason.
	_, err = devnet.Start(ctx, devnet.WithAccounts(0), devnet.WithListen("127.0.0.1", port))
	if err == nil || !strings.Contains(err.Error(), "EADDRINUSE") {
		t.Fatalf("a second runtime on a taken port: %v", err)
	}
}

// The standard accounts and the mints are the same on every run, so a
// policy or a key written for one run holds for the next.
func TestDeterministicAddresses(t *testing.T) {
	d := soltest.Shared(t)
	if got, want := d.Mints()["USDC"], devnet.Key("mint/USDC").PublicKey(); !got.Equals(want) {
		t.Fatalf("USDC mint %s, want %s", got, want)
	}
	if got, want := d.Accounts()[0].Address, devnet.Key("account/0").PublicKey(); !got.Equals(want) {
		t.Fatalf("account 0 is %s, want %s", got, want)
	}
}

// The built-in policy parses and speaks of the devnet's own USDC mint.
func TestBuiltInPolicy(t *testing.T) {
	d := soltest.Shared(t)
	src, err := d.Deployment().Policy()
	if err != nil {
		t.Fatal(err)
	}
	p, err := policies.Parse(src)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	var found bool
	for _, td := range p.Tokens() {
		if td.Symbol == "USDC" && td.Address == d.Mints()["USDC"].String() {
			found = true
		}
	}
	if !found {
		t.Fatalf("the policy's tokens %+v lack the devnet's USDC mint %s", p.Tokens(), d.Mints()["USDC"])
	}
}

// examples/solana/policy.yaml, which the README runs against this devnet,
// names its USDC mint.
func TestExamplePolicyMatchesDevnet(t *testing.T) {
	p, err := policies.Load("../../../examples/solana/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := devnet.Key("mint/USDC").PublicKey().String()
	for _, td := range p.Tokens() {
		if td.Symbol == "USDC" && td.Address == want {
			return
		}
	}
	t.Fatalf("examples/solana/policy.yaml does not name the devnet's USDC mint %s: %+v", want, p.Tokens())
}
