package policies

// isSolanaAddress reports whether s is a Solana address: the base58
// encoding of 32 bytes. It does not ask whether the key is on the curve:
// program-derived addresses (token accounts, PDAs) are off it and valid.
func isSolanaAddress(s string) bool {
	b, ok := decodeBase58(s)
	return ok && len(b) == 32
}

// solanaAddress denies an intent on a Solana cluster whose address field is
// not base58 of 32 bytes. Without it an EVM address, or a typo, would pass
// every check that only compares against lists (no allow list: anyone not
// denied) and reach a builder that fails later or, worse, reads it some
// other way. EVM intents are checked as before.
func (c *check) solanaAddress(fam family, addr, role, pre string) {
	if fam != familySolana || addr == "" || isSolanaAddress(addr) {
		return
	}
	c.deny("intent", pre, "%s %q is not a Solana address (base58 of 32 bytes), which an intent on a Solana cluster needs", role, addr)
}
