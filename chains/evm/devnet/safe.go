package devnet

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// NewSafe deploys a Safe 1.4.1 proxy (the SafeL2 singleton, with the
// compatibility fallback handler) owned by owners with threshold, through
// the SafeProxyFactory, and funds it with eth wei and usdc base units of
// USDC from the deployer. Each call makes a new Safe.
func (d *Devnet) NewSafe(ctx context.Context, owners []common.Address, threshold int, eth, usdc *big.Int) (common.Address, error) {
	d.deployerMu.Lock()
	defer d.deployerMu.Unlock()
	safeArt, factoryArt, erc20 := d.arts[SafeL2], d.arts[SafeProxyFactory], d.arts["DevnetERC20"]
	if safeArt == nil || factoryArt == nil {
		return common.Address{}, fmt.Errorf("devnet: the Safe artifacts are not loaded")
	}
	setup, err := safeArt.ABI.Pack("setup", owners, big.NewInt(int64(threshold)), common.Address{}, []byte{},
		d.Address(CompatibilityFallbackHandler), common.Address{}, new(big.Int), common.Address{})
	if err != nil {
		return common.Address{}, fmt.Errorf("devnet: Safe setup: %w", err)
	}
	d.extraSafes++
	salt := big.NewInt(int64(1_000_000 + d.extraSafes))
	// The proxy's address is CREATE2 over the factory, the salt
	// keccak(keccak(setup) ‖ saltNonce) and the proxy's creation code with
	// the singleton: read it from the factory by simulating the call.
	b := d.newBatch(ctx, d.deployerKey)
	data, err := factoryArt.ABI.Pack("createProxyWithNonce", d.Address(SafeL2), setup, salt)
	if err != nil {
		return common.Address{}, err
	}
	out, err := d.call(ctx, d.Address(SafeProxyFactory), factoryArt, "createProxyWithNonce", d.Address(SafeL2), setup, salt)
	if err != nil {
		return common.Address{}, fmt.Errorf("devnet: simulate createProxyWithNonce: %w", err)
	}
	proxy, ok := out[0].(common.Address)
	if !ok || proxy == (common.Address{}) {
		return common.Address{}, fmt.Errorf("devnet: createProxyWithNonce returned %v", out)
	}
	to := d.Address(SafeProxyFactory)
	b.send("create Safe", &to, nil, data, 0)
	if eth != nil && eth.Sign() > 0 {
		b.send("fund Safe ETH", &proxy, eth, nil, 21_000+10_000)
	}
	if usdc != nil && usdc.Sign() > 0 {
		b.callGas("fund Safe USDC", 100_000, d.Address(USDC), erc20, "transfer", nil, proxy, usdc)
	}
	if err := b.wait(); err != nil {
		return common.Address{}, err
	}
	return proxy, nil
}
