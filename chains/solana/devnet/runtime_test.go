package devnet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/mandatehq/mandate/chains/solana/devnet"
	"github.com/mandatehq/mandate/chains/solana/devnet/soltest"
)

// The fee the RPC quotes must be what LiteSVM charges, priority fee included.
func TestPriorityFeeCharged(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	ctx := context.Background()
	from := soltest.Account(t, d)
	to := solana.NewWallet().PublicKey()
	const amount = 1_000_000
	ixs := []solana.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(300_000).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(1_000_001).Build(), // micro-lamports per unit
		system.NewTransferInstruction(amount, from.Address, to).Build(),
	}
	tx := sign(t, c, ixs, latest(t, c), from.SecretKey)
	fee := feeFor(t, c, tx)
	if want := uint64(5000 + 300_001); fee != want { // ceil(1_000_001 * 300_000 / 1e6)
		t.Errorf("getFeeForMessage = %d, want %d", fee, want)
	}
	if _, err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("sendTransaction: %v", err)
	}
	if got, want := balance(t, c, from.Address), devnet.AccountLamports-amount-fee; got != want {
		t.Errorf("sender balance = %d, want %d (fee %d)", got, want, fee)
	}
	fees, err := c.GetRecentPrioritizationFees(ctx, solana.PublicKeySlice{from.Address})
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, f := range fees {
		seen = seen || f.PrioritizationFee == 1_000_001
	}
	if !seen {
		t.Errorf("getRecentPrioritizationFees = %+v; want the 1000001 just paid", fees)
	}
}

// Without preflight a failing transaction lands like on a cluster: its fee
// is charged, its status carries the error, nothing else moves.
func TestFailedTransactionLands(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	ctx := context.Background()
	from := soltest.Account(t, d)
	to := solana.NewWallet().PublicKey()
	tx := sign(t, c, []solana.Instruction{system.NewTransferInstruction(devnet.AccountLamports, from.Address, to).Build()}, latest(t, c), from.SecretKey)
	sig, err := c.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
	if err != nil {
		t.Fatalf("sendTransaction without preflight: %v", err)
	}
	st, err := c.GetSignatureStatuses(ctx, true, sig)
	if err != nil || st.Value[0] == nil || st.Value[0].Err == nil {
		t.Fatalf("status = %+v, %v; want landed with an error", st.Value, err)
	}
	if got, want := balance(t, c, from.Address), devnet.AccountLamports-5000; got != want {
		t.Errorf("sender balance = %d, want %d (only the fee)", got, want)
	}
	got, err := c.GetTransaction(ctx, sig, nil)
	if err != nil || got.Meta.Err == nil || got.Meta.Fee != 5000 {
		t.Fatalf("getTransaction = %+v, %v; want meta.err and fee 5000", got, err)
	}
	// The same transaction again: already processed, not executed twice.
	_, err = c.SendTransaction(ctx, tx)
	if re := rpcError(t, err); !strings.Contains(re.Message, "already been processed") {
		t.Errorf("resend: %q; want already processed", re.Message)
	}
	if _, err := c.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true}); err != nil {
		t.Fatalf("resend without preflight: %v", err)
	}
	if got, want := balance(t, c, from.Address), devnet.AccountLamports-5000; got != want {
		t.Errorf("sender balance after resend = %d, want %d", got, want)
	}
}

func TestMintJSONParsedAndBatch(t *testing.T) {
	d := soltest.Shared(t)
	usdc := d.Mints()["USDC"]
	body := `[{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["` + usdc.String() + `",{"encoding":"jsonParsed"}]},` +
		`{"jsonrpc":"2.0","id":2,"method":"getSlot"},{"jsonrpc":"2.0","id":3,"method":"nope"}]`
	resp, err := httpPostRaw(d.RPC(), body)
	if err != nil {
		t.Fatal(err)
	}
	var out []struct {
		ID     int             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp, &out); err != nil || len(out) != 3 {
		t.Fatalf("batch answer %s: %v", resp, err)
	}
	var info struct {
		Value struct {
			Owner string `json:"owner"`
			Data  struct {
				Program string `json:"program"`
				Parsed  struct {
					Type string `json:"type"`
					Info struct {
						Decimals      int    `json:"decimals"`
						IsInitialized bool   `json:"isInitialized"`
						Supply        string `json:"supply"`
					} `json:"info"`
				} `json:"parsed"`
			} `json:"data"`
		} `json:"value"`
	}
	if err := json.Unmarshal(out[0].Result, &info); err != nil {
		t.Fatal(err)
	}
	v := info.Value
	if v.Owner != solana.TokenProgramID.String() || v.Data.Program != "spl-token" || v.Data.Parsed.Type != "mint" ||
		v.Data.Parsed.Info.Decimals != 6 || !v.Data.Parsed.Info.IsInitialized || v.Data.Parsed.Info.Supply == "" {
		t.Errorf("jsonParsed mint = %s", out[0].Result)
	}
	if out[1].Error != nil || out[2].Error == nil || out[2].Error.Code != -32601 {
		t.Errorf("batch = %s", resp)
	}
}

// A durable-nonce transaction is checked against its nonce, not the recent
// blockhashes: it lands long after, once.
func TestDurableNonce(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	ctx := context.Background()
	owner := soltest.Account(t, d)
	nonceKey := solana.NewWallet().PrivateKey
	nonce := nonceKey.PublicKey()
	rent, err := c.GetMinimumBalanceForRentExemption(ctx, 80, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Send(ctx, []solana.Instruction{
		system.NewCreateAccountInstruction(rent, 80, solana.SystemProgramID, owner.Address, nonce).Build(),
		system.NewInitializeNonceAccountInstruction(owner.Address, nonce, solana.SysVarRecentBlockHashesPubkey, solana.SysVarRentPubkey).Build(),
	}, owner.SecretKey, nonceKey); err != nil {
		t.Fatalf("create nonce account: %v", err)
	}
	info, err := c.GetAccountInfo(ctx, nonce)
	if err != nil {
		t.Fatal(err)
	}
	var stored solana.Hash
	copy(stored[:], info.Value.Data.GetBinary()[40:72])

	to := solana.NewWallet().PublicKey()
	tx := sign(t, c, []solana.Instruction{
		system.NewAdvanceNonceAccountInstruction(nonce, solana.SysVarRecentBlockHashesPubkey, owner.Address).Build(),
		system.NewTransferInstruction(1_000_777, owner.Address, to).Build(),
	}, stored, owner.SecretKey)
	if _, err := d.Advance(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send with the durable nonce: %v", err)
	}
	if got := balance(t, c, to); got != 1_000_777 {
		t.Errorf("recipient balance = %d, want 1000777", got)
	}
	again := sign(t, c, []solana.Instruction{
		system.NewAdvanceNonceAccountInstruction(nonce, solana.SysVarRecentBlockHashesPubkey, owner.Address).Build(),
		system.NewTransferInstruction(1_000_778, owner.Address, to).Build(),
	}, stored, owner.SecretKey)
	_, err = c.SendTransaction(ctx, again)
	if re := rpcError(t, err); !strings.Contains(re.Message, "Blockhash not found") {
		t.Errorf("second use of the nonce: %q; want Blockhash not found", re.Message)
	}
}

func TestBadSignatureRefused(t *testing.T) {
	d := soltest.Shared(t)
	c := d.Client()
	from := soltest.Account(t, d)
	other := solana.NewWallet().PrivateKey
	tx := sign(t, c, []solana.Instruction{system.NewTransferInstruction(1, from.Address, other.PublicKey()).Build()}, latest(t, c), from.SecretKey)
	msg, _ := tx.Message.MarshalBinary()
	tx.Signatures[0], _ = other.Sign(msg) // signed by the wrong key
	_, err := c.SendTransaction(context.Background(), tx)
	if re := rpcError(t, err); re.Code != -32003 {
		t.Errorf("send with a wrong signature: %d %q; want -32003", re.Code, re.Message)
	}
}
