package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// NewExternalSigner returns a Signer for addr whose key an external signer
// holds: a process speaking Clef's external API over HTTP
// (account_list, account_signTransaction, account_signTypedData). It asks
// the signer for its accounts first, so an endpoint that is down, refuses
// to list, or does not hold addr fails here (ErrSignerUnreachable,
// ErrSignerRefused, ErrAccountNotHeld) rather than at the first payment.
//
// The signer applies its own rules on top of the policy's: a transaction
// the policy approved may still be refused there (ErrSignerRefused), and
// nothing is sent then. A signer that asks a person must answer within the
// Wallet's nonce lock timeout (WithNonceLockTimeout), since the wallet holds
// the nonce while it waits. Safe confirmations are sent as EIP-712 typed
// data (see SignSafeTx), which Clef's rules see as ApproveSignData.
//
// go-ethereum's accounts/external is a client of the same API, but its
// calls take no context and it logs failures instead of returning them;
// this client is the few calls a Wallet needs.
func NewExternalSigner(ctx context.Context, rawURL string, addr common.Address) (Signer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("evm: external signer URL %s: want http://host:port or https://host:port (the signer's HTTP endpoint)", redactURL(rawURL))
	}
	rc, err := rpc.DialOptions(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: external signer at %s: %v", ErrSignerUnreachable, redactURL(rawURL), stripURL(err))
	}
	x := &externalSigner{rc: rc, url: redactURL(rawURL), addr: addr}
	var held []common.Address
	if err := x.call(ctx, &held, "account_list"); err != nil {
		return nil, x.explain("list its accounts", err)
	}
	for _, a := range held {
		if a == addr {
			return NewSigner(x), nil
		}
	}
	return nil, fmt.Errorf("%w: the external signer at %s lists %d account(s), and %s is not one of them", ErrAccountNotHeld, x.url, len(held), addr.Hex())
}

// externalSigner is the JSON-RPC client of an external signer. It holds no
// key and no secret but the endpoint, which it shows redacted.
type externalSigner struct {
	rc   *rpc.Client
	url  string // redacted
	addr common.Address
}

func (x *externalSigner) Address() common.Address { return x.addr }

// SignTx asks for account_signTransaction of tx as an EIP-1559 request and
// decodes the signed bytes the signer returns (heldSigner checks them).
func (x *externalSigner) SignTx(ctx context.Context, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	if tx.Type() != types.DynamicFeeTxType {
		return nil, fmt.Errorf("evm: the external signer is asked EIP-1559 transactions only, not type %d", tx.Type())
	}
	data := hexutil.Bytes(tx.Data())
	al := tx.AccessList()
	args := apitypes.SendTxArgs{
		From:                 common.NewMixedcaseAddress(x.addr),
		Gas:                  hexutil.Uint64(tx.Gas()),
		MaxFeePerGas:         (*hexutil.Big)(tx.GasFeeCap()),
		MaxPriorityFeePerGas: (*hexutil.Big)(tx.GasTipCap()),
		Value:                hexutil.Big(*tx.Value()),
		Nonce:                hexutil.Uint64(tx.Nonce()),
		Input:                &data,
		AccessList:           &al,
		ChainID:              (*hexutil.Big)(chainID),
	}
	if to := tx.To(); to != nil {
		m := common.NewMixedcaseAddress(*to)
		args.To = &m
	}
	var res struct {
		Raw hexutil.Bytes `json:"raw"`
	}
	if err := x.call(ctx, &res, "account_signTransaction", args); err != nil {
		return nil, x.explain("sign the transaction", err)
	}
	signed := new(types.Transaction)
	if err := signed.UnmarshalBinary(res.Raw); err != nil {
		return nil, fmt.Errorf("%w: the external signer at %s returned bytes that are not a transaction (%v)", ErrSignerMisbehaved, x.url, err)
	}
	return signed, nil
}

// SignTypedData asks for account_signTypedData of an EIP-712 document.
func (x *externalSigner) SignTypedData(ctx context.Context, typedData []byte) ([]byte, error) {
	var sig hexutil.Bytes
	if err := x.call(ctx, &sig, "account_signTypedData", common.NewMixedcaseAddress(x.addr), json.RawMessage(typedData)); err != nil {
		return nil, x.explain("sign the typed data", err)
	}
	return sig, nil
}

func (x *externalSigner) call(ctx context.Context, out any, method string, args ...any) error {
	return x.rc.CallContext(ctx, out, method, args...)
}

// explain turns what the endpoint answered to "what", a request, into one
// line saying who failed and how: not reached, refused, account not held.
func (x *externalSigner) explain(what string, err error) error {
	var rerr rpc.Error
	var herr rpc.HTTPError
	var nerr net.Error
	switch {
	case errors.As(err, &rerr):
		msg := rerr.Error()
		if strings.Contains(msg, "unknown account") {
			return fmt.Errorf("%w: the external signer at %s was asked to %s for %s and has no such account", ErrAccountNotHeld, x.url, what, x.addr.Hex())
		}
		return fmt.Errorf("%w: the external signer at %s answered %q when asked to %s", ErrSignerRefused, x.url, msg, what)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("evm: the external signer at %s did not answer when asked to %s: %w", x.url, what, err)
	case errors.As(err, &herr):
		return fmt.Errorf("%w: the external signer at %s answered HTTP %s when asked to %s; is it the signer's HTTP endpoint, and does it accept this host name?", ErrSignerUnreachable, x.url, herr.Status, what)
	case errors.As(err, &nerr), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: the external signer at %s could not be reached to %s: %v", ErrSignerUnreachable, x.url, what, stripURL(err))
	}
	return fmt.Errorf("%w: the external signer at %s gave no valid answer when asked to %s: %v", ErrSignerUnreachable, x.url, what, stripURL(err))
}
