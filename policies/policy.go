package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Policy is an owner's policy file, parsed, validated and compiled: lookups
// are keyed maps, amounts are base-unit integers and CEL rules are programs,
// so deciding an intent does no parsing. A Policy is immutable and safe for
// concurrent use. Everything it does not allow is denied.
type Policy struct {
	chains   []string          // as configured, in file order
	families map[string]family // chain -> EVM or Solana

	tokens   []*tokenSpec            // defined tokens, in file order
	bySymbol map[string]*tokenSpec   // defined tokens
	byKey    map[tokenKey]*tokenSpec // defined tokens and every chain's native coin

	recipients    bool            // the section is present
	recipAllow    map[string]bool // nil when there is no allow list
	recipDeny     map[string]bool
	contracts     bool
	contractAllow map[string]bool // nil when there is no allow list

	limits             bool
	perTxUSD, dailyUSD *big.Int // micro-USD; nil when absent

	approvals bool
	unlimited bool
	spenders  map[string]bool // nil when there is no approvals.spenders list

	swaps  *swapBounds
	askUSD *big.Int // micro-USD; nil when there is no ask section
	safe   *safeRules
	rules  []*rule
	lint   lintNotes // likely mistakes, found at Parse (lint.go)
}

type family uint8

const (
	familyEVM family = iota + 1
	familySolana
)

// nativeSymbol is the symbol of a chain family's native coin; nativeDecimals
// its decimals. Policies may not define tokens with these symbols.
func (f family) nativeSymbol() string {
	if f == familySolana {
		return "SOL"
	}
	return "ETH"
}

func (f family) nativeDecimals() uint8 {
	if f == familySolana {
		return 9
	}
	return 18
}

// tokenKey identifies an asset: chain and addrKey of its address (empty for
// the native coin).
type tokenKey struct{ chain, addr string }

// tokenSpec is one asset the policy speaks of, with its limits in base units
// (nil when the policy sets none).
type tokenSpec struct {
	symbol   string
	chain    string
	address  string // as written in the file; empty for the native coin
	decimals uint8
	line     int

	perTx, daily, approveMax *big.Int
}

func (t *tokenSpec) native() bool { return t.address == "" }

type swapBounds struct {
	maxSlippageBps uint32
	maxDeadline    int64 // seconds
	// maxLossBps bounds how far the USD value of a swap's min-out may fall
	// below the USD value of its input, by the engine's price source; -1
	// when the policy sets no bound.
	maxLossBps int32
}

type safeRules struct {
	delegatecall map[string]bool
	selfCalls    bool
	refund       bool
}

// Solana cluster names accepted in chains and in Header.Chain.
var solanaChains = []string{"solana-mainnet", "solana-devnet", "solana-local"}

// ParseError is a mistake in a policy file. Its message is one line: what is
// wrong, on which line, and what to write instead.
type ParseError struct {
	File  string // the file, when read with Load
	Line  int    // 1-based; 0 when the problem is not on one line
	Field string // where in the policy, e.g. "limits.per_tx.USDC"
	Rule  string // the rule's name, for a mistake inside rules
	msg   string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("policy")
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

// errAt builds a ParseError reading "<subject> on line N <problem>; <hint>".
func errAt(n *yaml.Node, field, subject, problem, hint string) *ParseError {
	e := &ParseError{Field: field}
	if n != nil && n.Line > 0 {
		e.Line = n.Line
		e.msg = fmt.Sprintf("%s on line %d %s", subject, n.Line, problem)
	} else {
		e.msg = subject + " " + problem
	}
	if hint != "" {
		e.msg += "; " + hint
	}
	return e
}

// Load reads and parses a policy file. Errors name the file and the line.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		if pe, ok := errors.AsType[*ParseError](err); ok {
			pe.File = path
		}
		return nil, err
	}
	return p, nil
}

// maxPolicySize bounds the input: a policy is a page of YAML, and a huge
// document is either a mistake or an attempt to exhaust memory.
const maxPolicySize = 1 << 20

var yamlLine = regexp.MustCompile(`line (\d+)`)

// Parse parses and validates a policy file. Unknown keys, duplicate keys,
// wrong types, bad addresses and amounts, unknown symbols and rules that do
// not compile are *ParseError errors naming the line.
//
// The file (YAML, version: 1) allows; everything it does not allow is
// denied, and an intent kind it does not mention is denied: transfers need
// limits or recipients, approvals need approvals, swaps need swaps, calls
// need contracts, Safe transactions need safe.
//
//	version: 1
//	chains: [1, 8453, solana-devnet]   # EVM chain ids; solana-mainnet, solana-devnet, solana-local
//	tokens:                            # symbols the policy speaks of; ETH and SOL are implicit
//	  USDC: {chain: 1, address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6}
//	  BONK: {chain: solana-devnet, mint: "…base58…", decimals: 5}
//	recipients: {allow: ["0x…"], deny: ["0x…"]}  # no allow list: anyone not denied
//	contracts: {allow: ["0x…"]}        # contracts that may be called with any data
//	limits:                            # exact decimals in token units, and USD
//	  per_tx: {ETH: "1", USDC: "1000"}
//	  daily: {ETH: "3", USDC: "5000"}  # a rolling 24 hours, for all the policy's wallets
//	  per_tx_usd: 1000
//	  daily_usd: 5000
//	approvals: {max: {USDC: "1000"}, unlimited: false, spenders: ["0x…"]}  # no spenders list: any not denied
//	swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
//	ask: {above_usd: 500}              # above this a person must confirm
//	safe: {delegatecall: ["0x…"], self_calls: false, refund: false}
//	rules:
//	  - {name: no-weekend-swaps, deny_if: 'intent.kind == "swap" && now.getDayOfWeek() in [0, 6]',
//	     reason: "no swaps at weekends"}
//
// EVM addresses are 0x and 40 hex digits, all lower or all upper case, or
// mixed case matching their EIP-55 checksum; Solana addresses are base58.
// Amounts are exact decimals (a YAML number or string, read from its text,
// never through a float) with no more decimals than the token has; USD
// amounts have at most 6. A per-transaction limit applies to the whole
// intent, a Safe transaction's inner calls summed.
//
// An approval is a spend: a non-revoking approval (approve,
// increaseAllowance, Permit2, an NFT operator) is charged against the
// token's per_tx and daily limits, the USD limits and ask.above_usd at the
// amount it grants, as a transfer of that amount would be, and within one
// intent (a Safe batch) approvals and transfers add up. The one exception
// is the exact approval a swap makes to the contract it calls, which the
// swap's input already charges. A revoke (0) charges nothing and is always
// allowed. approvals.max bounds each approval; approvals.spenders, when
// present, lists the only spenders that may be approved (absent: anyone not
// in recipients.deny who is in contracts.allow or recipients.allow, or
// anyone not denied when neither list exists). An unlimited approval grants
// more than any limit, so even with unlimited: true it is denied for a
// token any limit bounds (its per_tx or daily, or a USD limit): limits bound
// what can leave the wallet by any route, a spender's transferFrom included.
//
// swaps.max_loss_bps (0 to 10000, optional) judges a swap against an
// independent price, the engine's price source (on EVM chains the runtime's
// Uniswap V3 TWAP), not the swap's own quote: a swap is denied when the USD
// value of its min_out falls short of the USD value of its input by more
// than that many basis points, fees and price impact included. When the key
// is set and either token has no price, the swap is denied.
//
// # Rules
//
// A policy's rules are CEL expressions the owner writes for what the fixed
// checks cannot say. Each rule's deny_if is compiled once, when the policy is
// parsed, and must have type bool; it is evaluated after the fixed checks,
// for the intent and for each inner call of a Safe transaction, and a true
// result denies with the rule's reason. A rule that fails to evaluate (a bad
// decimal, the cost limit) denies too: a rule that cannot be checked is not
// a rule that passed.
//
// Two variables are declared:
//
//	intent  mandate.Intent  the intent, with the typed fields below
//	now     timestamp       the decision time (UTC unless a zone is given,
//	                        e.g. now.getDayOfWeek("Europe/Berlin"))
//
// Fields every intent has:
//
//	kind           string   "transfer", "approve", "swap", "call" or "safe_tx"
//	chain          string   "1", "solana-mainnet"
//	from           string   the acting account (the Safe for safe_tx)
//	to             string   the recipient, spender or called contract
//	token          string   the policy's symbol, or the address of a token
//	                        the policy does not know
//	token_address  string   "" for the native coin
//	amount         decimal  in token units: the amount sent, approved or
//	                        swapped in, or the value of a call
//
// Fields by kind:
//
//	approve  spender string, method string ("approve", "increaseAllowance",
//	         "setApprovalForAll", "permit2"), unlimited bool
//	swap     venue string, token_in, token_in_address, token_out,
//	         token_out_address string, amount_in, min_out, quoted decimal
//	         (min_out and quoted in token_out's units), recipient string,
//	         slippage_bps int, deadline int (unix seconds)
//	call     value decimal, selector string ("0x" and 8 hex digits)
//	safe_tx  value decimal, operation int (0 call, 1 delegatecall),
//	         self_call string, inner list(mandate.Intent) (its inner calls,
//	         each with the fields of its own kind)
//
// Rules are type-checked against these: a field no intent has, a field the
// kinds a rule lets through lack, a comparison of a kind with one that does
// not exist, or an amount compared with a number or a string fails Parse
// with the rule's line. Reading a field of one kind needs a kind guard the
// checker can follow (==, != or in [...] on intent.kind, or has() of the
// field, through &&, ||, ! and ?:), so the rule never reads it from
// another kind:
//
//	intent.kind == "swap" && intent.slippage_bps > 50
//	intent.kind != "approve" || !intent.unlimited
//	intent.kind == "safe_tx" && intent.inner.exists(x, x.kind == "swap" && x.slippage_bps > 50)
//
// Money is never a float. Amounts are exact decimals, and decimal(string)
// (or decimal(int)) makes one; decimals compare with <, <=, >, >=, == and !=
// and add and subtract with + and -, so a rule can say
//
//	intent.token == "USDC" && intent.amount > decimal("250.5")
//
// and mean it to the last base unit. (decimal(intent.amount) is the same
// decimal, for rules written when amounts were strings.)
func Parse(data []byte) (*Policy, error) {
	if len(data) > maxPolicySize {
		return nil, &ParseError{msg: fmt.Sprintf("the file has %d bytes, more than the %d a policy may have; keep it to the rules", len(data), maxPolicySize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ParseError{msg: "the file is empty; start it with version: 1"}
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, errAt(&extra, "", "a second YAML document", "starts", "a policy is one document; remove the extra ---")
	}
	if err := rejectAliases(&doc); err != nil {
		return nil, err
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return parseRoot(root)
}

func yamlError(err error) error {
	msg := strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n", " "), "yaml: ")
	e := &ParseError{msg: "the file is not valid YAML (" + msg + "); fix the syntax there"}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
	}
	return e
}

// rejectAliases refuses YAML anchors and aliases: a policy is read by people,
// and a value defined elsewhere is a value nobody reviews where it applies.
func rejectAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return errAt(n, "", "an anchor or alias", "is used", "write every value out where it applies")
	}
	for _, c := range n.Content {
		if err := rejectAliases(c); err != nil {
			return err
		}
	}
	return nil
}

var topKeys = []string{"version", "chains", "tokens", "recipients", "contracts", "limits", "approvals", "swaps", "ask", "safe", "rules"}

func parseRoot(root *yaml.Node) (*Policy, error) {
	pairs, err := mapping(root, "", "the policy", topKeys)
	if err != nil {
		return nil, err
	}
	sec := make(map[string]pair, len(pairs))
	for _, kv := range pairs {
		sec[kv.key] = kv
	}
	v, ok := sec["version"]
	if !ok {
		return nil, errAt(root, "", "the policy", "has no version", "start it with version: 1")
	}
	if v.v.Kind != yaml.ScalarNode || v.v.ShortTag() != "!!int" || v.v.Value != "1" {
		return nil, errAt(v.v, "version", fmt.Sprintf("version %q", v.v.Value), "is not supported", "this version of mandate reads version: 1")
	}
	p := &Policy{
		families: map[string]family{},
		bySymbol: map[string]*tokenSpec{},
		byKey:    map[tokenKey]*tokenSpec{},
	}
	c, ok := sec["chains"]
	if !ok {
		return nil, errAt(root, "", "the policy", "has no chains", "list the chains it allows, e.g. chains: [1, 8453]")
	}
	if err := p.parseChains(c.v); err != nil {
		return nil, err
	}
	steps := []struct {
		key   string
		parse func(*yaml.Node) error
	}{
		{"tokens", p.parseTokens},
		{"recipients", p.parseRecipients},
		{"contracts", p.parseContracts},
		{"limits", p.parseLimits},
		{"approvals", p.parseApprovals},
		{"swaps", p.parseSwaps},
		{"ask", p.parseAsk},
		{"safe", p.parseSafe},
		{"rules", p.parseRules},
	}
	for _, s := range steps {
		if kv, ok := sec[s.key]; ok {
			if err := s.parse(kv.v); err != nil {
				return nil, err
			}
		}
	}
	p.lint = lint(p, root)
	return p, nil
}

// pair is one key of a YAML mapping with its value.
type pair struct {
	key  string
	k, v *yaml.Node
}

// mapping returns the keys of a mapping node in order, refusing duplicates
// and, when known is not nil, keys not in known.
func mapping(n *yaml.Node, field, what string, known []string) ([]pair, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, field, what, "is not a mapping", "write key: value pairs")
	}
	out := make([]pair, 0, len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!int") {
			return nil, errAt(k, field, "a key", "is not a plain name", "write keys as names")
		}
		if line, dup := seen[k.Value]; dup {
			return nil, errAt(k, field, fmt.Sprintf("key %q", k.Value), fmt.Sprintf("is repeated (first on line %d)", line), "keep one")
		}
		seen[k.Value] = k.Line
		if known != nil && !slices.Contains(known, k.Value) {
			return nil, errAt(k, field, fmt.Sprintf("key %q", k.Value), "is not known here", "use one of: "+strings.Join(known, ", "))
		}
		out = append(out, pair{k.Value, k, v})
	}
	return out, nil
}

func sequence(n *yaml.Node, field, what string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, field, what, "is not a list", "write [a, b] or one \"- item\" per line")
	}
	return n.Content, nil
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func text(n *yaml.Node, field, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", errAt(n, field, what, "is not text", "write it as a quoted string")
	}
	if strings.TrimSpace(n.Value) == "" {
		return "", errAt(n, field, what, "is empty", "write it out")
	}
	if strings.ContainsAny(n.Value, "\n\r") && what != "the expression" {
		return "", errAt(n, field, what, "spans several lines", "write it on one line")
	}
	return n.Value, nil
}

func boolean(n *yaml.Node, field string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, errAt(n, field, fmt.Sprintf("value %q", n.Value), "is not true or false", "write true or false")
	}
	return strings.EqualFold(n.Value, "true"), nil
}

func integer(n *yaml.Node, field string, lo, hi int64) (int64, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || !isDigits(n.Value) {
		return 0, errAt(n, field, fmt.Sprintf("value %q", n.Value), "is not a whole number", fmt.Sprintf("write a number from %d to %d", lo, hi))
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, errAt(n, field, fmt.Sprintf("value %s", n.Value), "is out of range", fmt.Sprintf("write a number from %d to %d", lo, hi))
	}
	return v, nil
}

// amount parses a YAML scalar as an exact decimal with the given decimals;
// unit names what has them in errors ("USDC has").
// Numbers are read from their literal text, never through a float.
func amount(n *yaml.Node, field, unit string, decimals uint8) (*big.Int, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, errAt(n, field, "the amount", "is not a number", `write a decimal such as "1.5"`)
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float":
	default:
		return nil, errAt(n, field, fmt.Sprintf("amount %q", n.Value), "is not a number", `write a decimal such as "1.5"`)
	}
	if n.Value == "" {
		return nil, errAt(n, field, "the amount", "is empty", `write a decimal such as "1.5"`)
	}
	v, err := ParseUnits(n.Value, decimals)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), ErrBadAmount.Error()+": ")
		// ParseUnits says "<value> <problem>; <hint>": put the line after the value.
		subject, rest, _ := strings.Cut(msg, " ")
		if unit != "" {
			rest = strings.Replace(rest, "this token has", unit, 1)
		}
		problem, hint, _ := strings.Cut(rest, "; ")
		return nil, errAt(n, field, "amount "+subject, problem, hint)
	}
	return v, nil
}

// usd parses a USD amount, exact to the micro-dollar.
func usd(n *yaml.Node, field string) (*big.Int, error) {
	return amount(n, field, "USD amounts have", usdDecimals)
}

// usdDecimals is the precision of USD amounts and spends: micro-dollars.
const usdDecimals = 6

func (p *Policy) parseChains(n *yaml.Node) error {
	items, err := sequence(n, "chains", "chains")
	if err != nil {
		return err
	}
	for _, it := range items {
		id, fam, err := chainID(it, "chains")
		if err != nil {
			return err
		}
		if _, dup := p.families[id]; dup {
			return errAt(it, "chains", "chain "+id, "is listed twice", "keep one")
		}
		p.families[id] = fam
		p.chains = append(p.chains, id)
		// The native coin of every chain is implicitly known.
		sym := fam.nativeSymbol()
		p.byKey[tokenKey{id, ""}] = &tokenSpec{symbol: sym, chain: id, decimals: fam.nativeDecimals(), line: it.Line}
	}
	return nil
}

// chainID reads an EVM chain id (a positive integer) or a Solana cluster name.
func chainID(n *yaml.Node, field string) (string, family, error) {
	if n.Kind == yaml.ScalarNode && isDigits(n.Value) && (n.ShortTag() == "!!int" || n.ShortTag() == "!!str") {
		v, err := strconv.ParseUint(n.Value, 10, 64)
		if err == nil && v > 0 && (n.Value[0] != '0') {
			return strconv.FormatUint(v, 10), familyEVM, nil
		}
	}
	if n.Kind == yaml.ScalarNode && slices.Contains(solanaChains, n.Value) {
		return n.Value, familySolana, nil
	}
	return "", 0, errAt(n, field, fmt.Sprintf("chain %q", n.Value), "is not a chain", "write an EVM chain id such as 1 or 8453, or one of "+strings.Join(solanaChains, ", "))
}

var reservedSymbols = []string{"ETH", "SOL"}

func validSymbol(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune(`"'\,:#{}[]`, r) {
			return false
		}
	}
	return true
}

func (p *Policy) parseTokens(n *yaml.Node) error {
	pairs, err := mapping(n, "tokens", "tokens", nil)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		field := join("tokens", kv.key)
		if !validSymbol(kv.key) {
			return errAt(kv.k, "tokens", fmt.Sprintf("symbol %q", kv.key), "is not a token symbol", "use letters, digits and . _ - (at most 32)")
		}
		for _, r := range reservedSymbols {
			if strings.EqualFold(kv.key, r) {
				return errAt(kv.k, "tokens", "symbol "+kv.key, "names a native coin, which needs no entry", "remove it (ETH and SOL are always known), or name a wrapped token differently, e.g. WETH")
			}
		}
		fields, err := mapping(kv.v, field, "token "+kv.key, []string{"chain", "address", "mint", "decimals"})
		if err != nil {
			return err
		}
		t := &tokenSpec{symbol: kv.key, line: kv.k.Line}
		var (
			addrNode, mintNode, decNode, chainNode *yaml.Node
		)
		for _, f := range fields {
			switch f.key {
			case "chain":
				chainNode = f.v
			case "address":
				addrNode = f.v
			case "mint":
				mintNode = f.v
			case "decimals":
				decNode = f.v
			}
		}
		if chainNode == nil || decNode == nil {
			return errAt(kv.k, field, "token "+kv.key, "lacks chain or decimals", "write {chain: 1, address: \"0x…\", decimals: 6}")
		}
		id, fam, err := chainID(chainNode, join(field, "chain"))
		if err != nil {
			return err
		}
		if _, ok := p.families[id]; !ok {
			return errAt(chainNode, join(field, "chain"), "chain "+id, "is not in chains", "add it to chains or remove the token")
		}
		t.chain = id
		dec, err := integer(decNode, join(field, "decimals"), 0, 77)
		if err != nil {
			return err
		}
		t.decimals = uint8(dec)
		switch fam {
		case familyEVM:
			if mintNode != nil {
				return errAt(mintNode, field, "mint", "is for Solana tokens", "chain "+id+" is an EVM chain; write address: instead")
			}
			if addrNode == nil {
				return errAt(kv.k, field, "token "+kv.key, "has no address", "add address: \"0x…\" (the token contract)")
			}
			if t.address, err = address(addrNode, join(field, "address"), true); err != nil {
				return err
			}
		case familySolana:
			if addrNode != nil {
				return errAt(addrNode, field, "address", "is for EVM tokens", "chain "+id+" is a Solana cluster; write mint: instead")
			}
			if mintNode == nil {
				return errAt(kv.k, field, "token "+kv.key, "has no mint", "add mint: \"…\" (the base58 mint address)")
			}
			if t.address, err = address(mintNode, join(field, "mint"), false); err != nil {
				return err
			}
			if strings.HasPrefix(t.address, "0x") {
				return errAt(mintNode, join(field, "mint"), "mint "+t.address, "is not a Solana address", "write the base58 mint address")
			}
		}
		key := tokenKey{t.chain, addrKey(t.address)}
		if other, dup := p.byKey[key]; dup {
			return errAt(kv.k, field, "token "+kv.key, fmt.Sprintf("has the same address as %s (line %d)", other.symbol, other.line), "keep one symbol per token")
		}
		p.byKey[key] = t
		p.bySymbol[t.symbol] = t
		p.tokens = append(p.tokens, t)
	}
	return nil
}

// address parses an address node; evmOnly refuses Solana addresses.
func address(n *yaml.Node, field string, evmOnly bool) (string, error) {
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", errAt(n, field, "the address", "is not text", `write it in quotes, e.g. "0x…"`)
	}
	s := n.Value
	var err error
	if evmOnly {
		err = checkEVMAddress(s)
	} else {
		err = checkAddress(s)
	}
	switch {
	case errors.Is(err, errWrongChecksum):
		return "", errAt(n, field, "address "+s, "has a wrong checksum", "check it against its source: a mixed-case address must match its EIP-55 checksum (an all-lower-case address carries none)")
	case err != nil && evmOnly:
		return "", errAt(n, field, fmt.Sprintf("%q", s), "is not an EVM address", "write 0x and 40 hex digits")
	case err != nil:
		return "", errAt(n, field, fmt.Sprintf("%q", s), errNotAddress.Error(), "check it against its source")
	}
	if isZeroAddress(s) {
		return "", errAt(n, field, "address "+s, "is the zero address", "nothing can be sent to or called there; remove it")
	}
	return s, nil
}

// addressSet parses a list of addresses into a set keyed by addrKey.
func addressSet(n *yaml.Node, field string, evmOnly bool) (map[string]bool, map[string]int, error) {
	items, err := sequence(n, field, field)
	if err != nil {
		return nil, nil, err
	}
	set := make(map[string]bool, len(items))
	lines := make(map[string]int, len(items))
	for _, it := range items {
		a, err := address(it, field, evmOnly)
		if err != nil {
			return nil, nil, err
		}
		k := addrKey(a)
		if line, dup := lines[k]; dup {
			return nil, nil, errAt(it, field, "address "+a, fmt.Sprintf("is listed twice (first on line %d)", line), "keep one")
		}
		set[k], lines[k] = true, it.Line
	}
	return set, lines, nil
}

func (p *Policy) parseRecipients(n *yaml.Node) error {
	pairs, err := mapping(n, "recipients", "recipients", []string{"allow", "deny"})
	if err != nil {
		return err
	}
	p.recipients = true
	var allowLines map[string]int
	var denyNode *yaml.Node
	for _, kv := range pairs {
		switch kv.key {
		case "allow":
			if p.recipAllow, allowLines, err = addressSet(kv.v, "recipients.allow", false); err != nil {
				return err
			}
		case "deny":
			if p.recipDeny, _, err = addressSet(kv.v, "recipients.deny", false); err != nil {
				return err
			}
			denyNode = kv.v
		}
	}
	if denyNode != nil {
		for _, it := range denyNode.Content {
			if line, both := allowLines[addrKey(it.Value)]; both {
				return errAt(it, "recipients.deny", "address "+it.Value, fmt.Sprintf("is also in recipients.allow (line %d)", line), "remove it from one of the lists")
			}
		}
	}
	return nil
}

func (p *Policy) parseContracts(n *yaml.Node) error {
	pairs, err := mapping(n, "contracts", "contracts", []string{"allow"})
	if err != nil {
		return err
	}
	p.contracts = true
	for _, kv := range pairs {
		if p.contractAllow, _, err = addressSet(kv.v, "contracts.allow", false); err != nil {
			return err
		}
	}
	return nil
}

// specsFor returns the assets a symbol in limits or approvals names: a
// defined token, or the native coin on every chain of its family.
func (p *Policy) specsFor(k *yaml.Node, field string) ([]*tokenSpec, error) {
	if t, ok := p.bySymbol[k.Value]; ok {
		return []*tokenSpec{t}, nil
	}
	var out []*tokenSpec
	for _, c := range p.chains {
		if t := p.byKey[tokenKey{c, ""}]; t.symbol == k.Value {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		if slices.Contains(reservedSymbols, k.Value) {
			return nil, errAt(k, field, "symbol "+k.Value, "is the native coin of no chain in chains", "add such a chain to chains or remove this entry")
		}
		return nil, errAt(k, field, fmt.Sprintf("symbol %q", k.Value), "is not in tokens", "define it under tokens with chain, address and decimals, or use ETH or SOL")
	}
	return out, nil
}

// tokenAmounts parses {SYM: amount} and stores each amount with set.
func (p *Policy) tokenAmounts(n *yaml.Node, field string, set func(*tokenSpec, *big.Int)) error {
	pairs, err := mapping(n, field, field, nil)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		specs, err := p.specsFor(kv.k, field)
		if err != nil {
			return err
		}
		v, err := amount(kv.v, join(field, kv.key), kv.key+" has", specs[0].decimals)
		if err != nil {
			return err
		}
		for _, t := range specs {
			set(t, v)
		}
	}
	return nil
}

func (p *Policy) parseLimits(n *yaml.Node) error {
	pairs, err := mapping(n, "limits", "limits", []string{"per_tx", "daily", "per_tx_usd", "daily_usd"})
	if err != nil {
		return err
	}
	p.limits = true
	for _, kv := range pairs {
		switch kv.key {
		case "per_tx":
			err = p.tokenAmounts(kv.v, "limits.per_tx", func(t *tokenSpec, v *big.Int) { t.perTx = v })
		case "daily":
			err = p.tokenAmounts(kv.v, "limits.daily", func(t *tokenSpec, v *big.Int) { t.daily = v })
		case "per_tx_usd":
			p.perTxUSD, err = usd(kv.v, "limits.per_tx_usd")
		case "daily_usd":
			p.dailyUSD, err = usd(kv.v, "limits.daily_usd")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *Policy) parseApprovals(n *yaml.Node) error {
	pairs, err := mapping(n, "approvals", "approvals", []string{"max", "unlimited", "spenders"})
	if err != nil {
		return err
	}
	p.approvals = true
	for _, kv := range pairs {
		switch kv.key {
		case "spenders":
			err = p.parseSpenders(kv.v)
		case "max":
			if mp, err := mapping(kv.v, "approvals.max", "approvals.max", nil); err == nil {
				for _, s := range mp {
					if specs, err := p.specsFor(s.k, "approvals.max"); err == nil && specs[0].native() {
						return errAt(s.k, "approvals.max", "symbol "+s.key, "is a native coin, which is never approved", "remove it")
					}
				}
			}
			err = p.tokenAmounts(kv.v, "approvals.max", func(t *tokenSpec, v *big.Int) { t.approveMax = v })
		case "unlimited":
			p.unlimited, err = boolean(kv.v, "approvals.unlimited")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseSpenders reads approvals.spenders. A spender also in recipients.deny
// is refused: the deny list would win, and the owner meant one of the two.
func (p *Policy) parseSpenders(n *yaml.Node) error {
	set, _, err := addressSet(n, "approvals.spenders", false)
	if err != nil {
		return err
	}
	for _, it := range n.Content {
		if p.recipDeny[addrKey(it.Value)] {
			return errAt(it, "approvals.spenders", "address "+it.Value, "is also in recipients.deny", "remove it from one of the lists")
		}
	}
	p.spenders = set
	return nil
}

func (p *Policy) parseSwaps(n *yaml.Node) error {
	pairs, err := mapping(n, "swaps", "swaps", []string{"max_slippage_bps", "max_deadline_seconds", "max_loss_bps"})
	if err != nil {
		return err
	}
	s := &swapBounds{maxSlippageBps: 1 << 31, maxLossBps: -1}
	for _, kv := range pairs {
		switch kv.key {
		case "max_loss_bps":
			v, err := integer(kv.v, "swaps.max_loss_bps", 0, 10000)
			if err != nil {
				return err
			}
			s.maxLossBps = int32(v)
		case "max_slippage_bps":
			v, err := integer(kv.v, "swaps.max_slippage_bps", 0, 10000)
			if err != nil {
				return err
			}
			s.maxSlippageBps = uint32(v)
		case "max_deadline_seconds":
			if s.maxDeadline, err = integer(kv.v, "swaps.max_deadline_seconds", 1, 365*24*3600); err != nil {
				return err
			}
		}
	}
	if s.maxSlippageBps == 1<<31 || s.maxDeadline == 0 {
		return errAt(n, "swaps", "swaps", "lacks max_slippage_bps or max_deadline_seconds", "write both, e.g. {max_slippage_bps: 100, max_deadline_seconds: 1800}")
	}
	p.swaps = s
	return nil
}

func (p *Policy) parseAsk(n *yaml.Node) error {
	pairs, err := mapping(n, "ask", "ask", []string{"above_usd"})
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		if p.askUSD, err = usd(kv.v, "ask.above_usd"); err != nil {
			return err
		}
	}
	if p.askUSD == nil {
		return errAt(n, "ask", "ask", "has no above_usd", "write ask: {above_usd: 500} or remove the section")
	}
	return nil
}

func (p *Policy) parseSafe(n *yaml.Node) error {
	pairs, err := mapping(n, "safe", "safe", []string{"delegatecall", "self_calls", "refund"})
	if err != nil {
		return err
	}
	s := &safeRules{delegatecall: map[string]bool{}}
	for _, kv := range pairs {
		switch kv.key {
		case "delegatecall":
			s.delegatecall, _, err = addressSet(kv.v, "safe.delegatecall", true)
		case "self_calls":
			s.selfCalls, err = boolean(kv.v, "safe.self_calls")
		case "refund":
			s.refund, err = boolean(kv.v, "safe.refund")
		}
		if err != nil {
			return err
		}
	}
	p.safe = s
	return nil
}

func (p *Policy) parseRules(n *yaml.Node) error {
	items, err := sequence(n, "rules", "rules")
	if err != nil {
		return err
	}
	lines := map[string]int{}
	for i, it := range items {
		field := fmt.Sprintf("rules[%d]", i)
		pairs, err := mapping(it, field, "the rule", []string{"name", "deny_if", "reason"})
		if err != nil {
			return err
		}
		r := &rule{line: it.Line}
		var exprNode *yaml.Node
		for _, kv := range pairs {
			switch kv.key {
			case "name":
				r.name, err = text(kv.v, field+".name", "the name")
			case "deny_if":
				r.source, err = text(kv.v, field+".deny_if", "the expression")
				exprNode = kv.v
			case "reason":
				r.reason, err = text(kv.v, field+".reason", "the reason")
			}
			if err != nil {
				return err
			}
		}
		if r.name == "" || r.source == "" || r.reason == "" {
			return errAt(it, field, "the rule", "lacks name, deny_if or reason", "write all three, e.g. {name: no-weekend-swaps, deny_if: '…', reason: \"…\"}")
		}
		if line, dup := lines[r.name]; dup {
			return errAt(it, field, fmt.Sprintf("rule %q", r.name), fmt.Sprintf("repeats the name of the rule on line %d", line), "give each rule its own name")
		}
		lines[r.name] = it.Line
		if err := r.compile(); err != nil {
			return ruleParseError(r, exprNode, err)
		}
		p.rules = append(p.rules, r)
	}
	return nil
}

// ruleParseError places a rule's compile error on the line of the file it
// is on: the deny_if line, or for a literal block (deny_if: |) the line of
// the expression it names.
func ruleParseError(r *rule, exprNode *yaml.Node, err error) *ParseError {
	at := *exprNode
	hint := "see go doc policies.Parse for the rule language"
	if re, ok := errors.AsType[*ruleError](err); ok {
		if re.line > 0 && at.Style&yaml.LiteralStyle != 0 {
			at.Line += re.line
		}
		if !re.hint {
			hint = ""
		}
	}
	e := errAt(&at, "rules."+r.name, fmt.Sprintf("rule %q", r.name), "does not compile: "+err.Error(), hint)
	e.Rule = r.name
	return e
}

// Chains returns the chains the policy allows, as Header.Chain spells them.
func (p *Policy) Chains() []string { return slices.Clone(p.chains) }

// Token returns the token the policy defines under symbol on chain, or the
// chain's native coin for ETH and SOL. Tools use it to resolve a symbol the
// owner wrote to the address the policy will check.
func (p *Policy) Token(chain, symbol string) (Token, bool) {
	if t, ok := p.bySymbol[symbol]; ok && t.chain == chain {
		return Token{Symbol: t.symbol, Address: t.address, Decimals: t.decimals}, true
	}
	if t, ok := p.byKey[tokenKey{chain, ""}]; ok && t.symbol == symbol {
		return Token{Symbol: t.symbol, Decimals: t.decimals}, true
	}
	return Token{}, false
}

// SwapBounds returns the largest slippage and deadline the policy accepts,
// so a tool can build a swap that passes (ok is false when swaps are denied).
func (p *Policy) SwapBounds() (maxSlippageBps uint32, maxDeadline time.Duration, ok bool) {
	if p.swaps == nil {
		return 0, 0, false
	}
	return p.swaps.maxSlippageBps, time.Duration(p.swaps.maxDeadline) * time.Second, true
}

// MaxLossBps returns swaps.max_loss_bps: how far, in basis points, the USD
// value of a swap's min-out may fall below the USD value of its input by
// the engine's price source. ok is false when the policy sets no such
// bound (or denies swaps), so a tool can refuse a swap that cannot pass
// before it asks for a signature.
func (p *Policy) MaxLossBps() (bps uint32, ok bool) {
	if p.swaps == nil || p.swaps.maxLossBps < 0 {
		return 0, false
	}
	return uint32(p.swaps.maxLossBps), true
}

// Summary describes the policy for a person, one fact a line, in the order
// of the file's sections; `mandate policy check` prints it.
func (p *Policy) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version 1\nchains: %s\n", strings.Join(p.chains, ", "))
	for _, t := range p.tokens {
		fmt.Fprintf(&b, "token %s: chain %s, %s, %d decimals\n", t.symbol, t.chain, t.address, t.decimals)
	}
	allowed := []string{}
	if p.limits || p.recipients {
		allowed = append(allowed, string(KindTransfer))
	}
	if p.approvals {
		allowed = append(allowed, string(KindApprove))
	}
	if p.swaps != nil {
		allowed = append(allowed, string(KindSwap))
	}
	if p.contracts {
		allowed = append(allowed, string(KindCall))
	}
	if p.safe != nil {
		allowed = append(allowed, string(KindSafeTx))
	}
	fmt.Fprintf(&b, "kinds allowed: %s\n", strings.Join(allowed, ", "))
	if p.recipAllow != nil {
		fmt.Fprintf(&b, "recipients: %d allowed\n", len(p.recipAllow))
	}
	if len(p.recipDeny) > 0 {
		fmt.Fprintf(&b, "recipients: %d denied\n", len(p.recipDeny))
	}
	if p.contractAllow != nil {
		fmt.Fprintf(&b, "contracts: %d allowed\n", len(p.contractAllow))
	}
	for _, t := range p.limitSpecs() {
		if t.perTx != nil {
			fmt.Fprintf(&b, "limit per tx: %s %s\n", FormatUnits(t.perTx, t.decimals), t.symbol)
		}
		if t.daily != nil {
			fmt.Fprintf(&b, "limit per 24h: %s %s\n", FormatUnits(t.daily, t.decimals), t.symbol)
		}
		if t.approveMax != nil {
			fmt.Fprintf(&b, "approval max: %s %s\n", FormatUnits(t.approveMax, t.decimals), t.symbol)
		}
	}
	if p.perTxUSD != nil {
		fmt.Fprintf(&b, "limit per tx: %s USD\n", FormatUnits(p.perTxUSD, usdDecimals))
	}
	if p.dailyUSD != nil {
		fmt.Fprintf(&b, "limit per 24h: %s USD\n", FormatUnits(p.dailyUSD, usdDecimals))
	}
	if p.approvals {
		fmt.Fprintf(&b, "unlimited approvals: %t\n", p.unlimited)
		if p.spenders != nil {
			fmt.Fprintf(&b, "approval spenders (only these): %s\n", strings.Join(slices.Sorted(maps.Keys(p.spenders)), ", "))
		}
		b.WriteString("approvals are charged against the limits as spends\n")
	}
	if p.swaps != nil {
		fmt.Fprintf(&b, "swaps: slippage at most %d bps, deadline at most %ds\n", p.swaps.maxSlippageBps, p.swaps.maxDeadline)
		if p.swaps.maxLossBps >= 0 {
			fmt.Fprintf(&b, "swaps: max_loss_bps %d (min-out worth at most %d bps less than the input, by the price source)\n", p.swaps.maxLossBps, p.swaps.maxLossBps)
		}
	}
	if p.askUSD != nil {
		fmt.Fprintf(&b, "ask a person above %s USD\n", FormatUnits(p.askUSD, usdDecimals))
	}
	if p.safe != nil {
		fmt.Fprintf(&b, "safe: %d delegatecall targets, self calls %t, refunds %t\n", len(p.safe.delegatecall), p.safe.selfCalls, p.safe.refund)
	}
	for _, r := range p.rules {
		fmt.Fprintf(&b, "rule %s: deny if %s (%s)\n", r.name, r.source, r.reason)
	}
	return b.String()
}

// limitSpecs returns one spec per symbol that carries a limit: the defined
// tokens in file order, then the native coins.
func (p *Policy) limitSpecs() []*tokenSpec {
	out := slices.Clone(p.tokens)
	seen := map[string]bool{}
	for _, c := range p.chains {
		t := p.byKey[tokenKey{c, ""}]
		if !seen[t.symbol] {
			seen[t.symbol] = true
			out = append(out, t)
		}
	}
	return out
}

// usesUSD reports whether any rule needs a USD price.
func (p *Policy) usesUSD() bool {
	return p.perTxUSD != nil || p.dailyUSD != nil || p.askUSD != nil
}
