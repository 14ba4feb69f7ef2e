package offline

import (
	"regexp"
	"strings"
)

// intent is what parse makes of one owner message: a tool call (Tool and
// Args set) or, when there is nothing to call, the Text to answer with.
type intent struct {
	Tool string
	Args map[string]string
	Text string
	// Solana is set when the words say Solana: SOL, a base58 address or
	// mint, or "on solana". The model then calls the sol_ tool for Tool.
	Solana bool
}

// Grammar fragments. Every rule is anchored at both ends: a message that has
// anything left over ("…and then send the rest to 0x…") matches nothing and
// gets the "not understood" answer, so the model never acts on half of an
// instruction.
const (
	pAmt  = amountPattern
	pTok  = `(0[xX][0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44}|[a-z][a-z0-9]{0,19}(?:\.[a-z0-9]{1,10})?)`
	pAddr = `(0[xX][0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})`
	pHash = `(0[xX][0-9a-fA-F]{64})`
	pUnl  = `(unlimited|infinite|max|maximum|an unlimited amount of|unlimited amount of)`
)

// rule maps one phrasing to a tool. build receives the submatches and says
// which argument each is; tokens are checked and canonicalised afterwards.
type rule struct {
	tool  string
	re    *regexp.Regexp
	build func(m []string) map[string]string
}

func r(tool, pattern string, build func(m []string) map[string]string) rule {
	p := strings.NewReplacer("AMT", pAmt, "TOK", pTok, "ADDR", pAddr, "HASH", pHash, "UNL", pUnl).Replace(pattern)
	return rule{tool: tool, re: regexp.MustCompile("^(?:" + p + ")$"), build: build}
}

func none([]string) map[string]string { return map[string]string{} }

func token(i int) func([]string) map[string]string {
	return func(m []string) map[string]string { return map[string]string{"token": m[i]} }
}

func pair(from, to, amt int) func([]string) map[string]string {
	return func(m []string) map[string]string {
		return map[string]string{"from": m[from], "to": m[to], "amount": m[amt]}
	}
}

// Words that match the symbol pattern but are never a token: rejecting them
// keeps "balance of everything" or "send 5 to 0x…" from becoming a call
// about a token called EVERYTHING or TO.
var notSymbols = map[string]bool{
	"to": true, "for": true, "with": true, "in": true, "of": true, "my": true, "the": true,
	"a": true, "an": true, "and": true, "it": true, "all": true, "everything": true, "me": true,
	"wallet": true, "is": true, "are": true, "from": true, "into": true, "at": true, "on": true,
	"token": true, "tokens": true, "coins": true, "money": true, "funds": true, "that": true,
	"this": true, "some": true, "any": true, "them": true, "half": true, "rest": true,
}

// The verbs below decide whether a trailing slippage clause is looked for.
var swapVerb = regexp.MustCompile(`^(?:swap|exchange|convert|trade|buy|sell) `)

// slippageClause is the optional tail of a swap: "with 0.3% slippage",
// "slippage 30 bps", ", max slippage of 1 percent", "at 50bps".
var slippageClause = regexp.MustCompile(`^(.*?),? (?:(?:with|at|using|and) )?(?:(?:a |max |maximum )?slippage(?: tolerance)?(?: of| at)? )?` +
	pAmt + ` ?(%|percent|bps|basis points)(?: (?:max |maximum )?slippage(?: tolerance)?)?$`)

var rules = []rule{
	r(toolAddress, `(?:what is |what are )?(?:my |the |our )?(?:wallet |account |deposit )?address(?:es)?`, none),
	r(toolAddress, `who am i|whoami|(?:what is )?my (?:wallet|account)`, none),

	r(toolBalance, `(?:what is |what are )?(?:my |the )?(?:wallet )?(?:balances?|holdings)`, none),
	r(toolBalance, `what (?:do|did) i (?:hold|have|own)|what is in my wallet|how much do i (?:have|hold|own)`, none),
	r(toolBalance, `(?:what is |what are )?(?:my |the )?(?:wallet )?balances? (?:of|in|for) (?:my )?TOK`, token(1)),
	r(toolBalance, `(?:what is |what are )?(?:my |the )?TOK balances?`, token(1)),
	r(toolBalance, `(?:my )?balances? TOK`, token(1)),
	r(toolBalance, `how (?:much|many) TOK (?:do i have|do i hold|do i own|have i got|is in my wallet|are in my wallet)`, token(1)),

	r(toolTransfer, `(?:send|transfer|pay) AMT TOK to (?:address )?ADDR`, func(m []string) map[string]string {
		return map[string]string{"amount": m[1], "token": m[2], "to": m[3]}
	}),
	r(toolTransfer, `(?:send|transfer|pay) (?:to )?ADDR AMT TOK`, func(m []string) map[string]string {
		return map[string]string{"to": m[1], "amount": m[2], "token": m[3]}
	}),

	r(toolSwap, `(?:swap|exchange|convert|trade|sell) AMT TOK (?:to|for|into) TOK`, pair(2, 3, 1)),
	r(toolSwap, `buy TOK with AMT TOK`, pair(3, 1, 2)),

	r(toolQuote, `(?:quote|price|price of|price for|quote for|quote of|what is the price of|what is the price for|what is the quote for|how much is|how much are) AMT TOK (?:in|to|for|into|as) TOK`, pair(2, 3, 1)),
	r(toolQuote, `how (?:much|many) TOK (?:for|would i get for|do i get for|will i get for|can i get for|is|are) AMT TOK`, pair(3, 1, 2)),
	r(toolQuote, `what (?:would|do|will|can) i get for AMT TOK (?:in|to|as) TOK`, pair(2, 3, 1)),

	r(toolApprove, `approve (?:AMT|UNL) TOK (?:for|to|to be spent by|spender) ADDR`, func(m []string) map[string]string {
		return map[string]string{"amount": amountOrUnlimited(m[1], m[2]), "token": m[3], "spender": m[4]}
	}),
	r(toolApprove, `approve ADDR (?:to spend|for|spending) (?:AMT|UNL) TOK`, func(m []string) map[string]string {
		return map[string]string{"spender": m[1], "amount": amountOrUnlimited(m[2], m[3]), "token": m[4]}
	}),

	r(toolInfo, `(?:token )?info(?: on| about| for)? (?:token )?TOK|about (?:token )?TOK|token TOK`, func(m []string) map[string]string {
		return map[string]string{"token": first(m[1:])}
	}),
	r(toolInfo, `what is (?:the )?token TOK|what is ADDR|what token is ADDR`, func(m []string) map[string]string {
		return map[string]string{"token": first(m[1:])}
	}),

	r(toolPrice, `(?:what is )?(?:the )?(?:usd )?price (?:of|for) TOK(?: in usd)?|how much is (?:one |1 )?TOK(?: worth)?(?: in usd)?|TOK price`, func(m []string) map[string]string {
		return map[string]string{"token": first(m[1:])}
	}),
	r(toolPortfolio, `(?:my |show my |what is my )?(?:portfolio|net worth|holdings in usd|holdings with usd values)`, none),
	r(toolPools, `(?:pools?|pool stats|liquidity|volume)(?: of| for| between)? TOK(?: and | / |/| - | )TOK`, func(m []string) map[string]string {
		return map[string]string{"token_a": m[1], "token_b": m[2]}
	}),
	r(toolExplain, `(?:explain|decode|what did|what does|what happened in)(?: tx| transaction)? HASH(?: do)?`, func(m []string) map[string]string {
		return map[string]string{"hash": m[1]}
	}),
	r(toolHistory, `(?:my |show my |wallet )?(?:history|transfers|transaction history|activity)`, none),

	r(toolStatus, `(?:tx |transaction )?(?:status|receipt)(?: of| for)?(?: tx| transaction)? HASH`, func(m []string) map[string]string {
		return map[string]string{"hash": m[1]}
	}),
	r(toolStatus, `(?:(?:what is )?(?:the )?status of )?(?:tx |transaction |track )?HASH`, func(m []string) map[string]string {
		return map[string]string{"hash": m[1]}
	}),
	r(toolStatus, `(?:did|has|is) (?:tx |transaction )?HASH (?:confirm|confirmed|go through|gone through|land|landed|mined|pending|succeed|succeeded|fail|failed)`, func(m []string) map[string]string {
		return map[string]string{"hash": m[1]}
	}),
}

var helpRe = regexp.MustCompile(`^(?:help|help me|commands|menu|usage|start|\?|what can you do|what do you do|what can i do|what can i say|what can i ask|how does this work|how do i use this|how do i use you|list commands|show commands)$`)

// conditionRe finds a condition anywhere in the message. A condition cannot
// be checked here, so the whole instruction is declined, never half done.
var conditionRe = regexp.MustCompile(`\b(?:if|when|whenever|once|unless|until|provided|as soon as|in case|above|below|drops?|falls?|rises?|reach(?:es)?|hits?)\b`)

// maxCommandLen bounds the work spent on one message. The longest polite
// command is far shorter; a pasted essay is an open question for a backend,
// and the cap keeps the politeness stripping from going quadratic on it.
const maxCommandLen = 1000

var badHexRe = regexp.MustCompile(`0[xX][0-9a-fA-F]*`)

// parse reads one owner message. It is total: every input yields either a
// tool call or a text answer, and never panics (FuzzParse checks this).
func parse(text string) intent {
	if len(text) > maxCommandLen {
		return intent{Text: unknownText()}
	}
	s := normalize(text)
	switch {
	case s == "":
		return intent{Text: greetingText()}
	case helpRe.MatchString(s):
		return intent{Text: helpText()}
	}
	if in, ok := parseOrder(s); ok {
		return askIfUnclear(s, in)
	}
	switch {
	case conditionRe.MatchString(s):
		return intent{Text: conditionalText()}
	}
	slip, core := "", s
	onSolana := false
	if m := onSolanaRe.FindStringSubmatch(core); m != nil {
		core, onSolana = m[1], true
	}
	if swapVerb.MatchString(core) {
		if m := slippageClause.FindStringSubmatch(core); m != nil {
			if q, unclear := unclearNumber(m[2]); unclear {
				return intent{Text: q}
			}
			bps, ok := slippageBps(m[2], m[3])
			if !ok {
				return intent{Text: badSlippageText()}
			}
			slip, core = bps, m[1]
		}
	}
	for _, ru := range rules {
		m := ru.re.FindStringSubmatch(core)
		if m == nil {
			continue
		}
		args, ok := finish(ru.build(m))
		if !ok {
			continue
		}
		if slip != "" {
			if ru.tool != toolSwap {
				continue
			}
			args["slippage_bps"] = slip
		}
		return askIfUnclear(s, intent{Tool: ru.tool, Args: args, Solana: onSolana || saysSolana(args)})
	}
	for _, h := range badHexRe.FindAllString(s, -1) {
		if n := len(h) - 2; n != 40 && n != 64 {
			return intent{Text: badHexText(h)}
		}
	}
	return intent{Text: unknownText()}
}

// onSolanaRe is a trailing "on solana" (or "on sol"), which sends the
// command to the Solana tools whatever else is configured.
var onSolanaRe = regexp.MustCompile(`^(.*?),? (?:on|via|using|with) (?:solana|sol|the solana (?:wallet|chain))$`)

// saysSolana reports whether a command's arguments name Solana: the coin
// SOL, or an address or mint in base58.
func saysSolana(args map[string]string) bool {
	for k, v := range args {
		switch k {
		case "token", "from", "to", "token_a", "token_b", "spender":
			if v == "SOL" || isBase58Address(v) {
				return true
			}
		}
	}
	return false
}

// askIfUnclear returns in, the command the message s was read as, unless
// a number in it has more than one reading ("1,000", "1.000", "1,5"): then
// the question which one was meant, and nothing is proposed. Every number
// of a recognised command is an amount, a price level, a slippage or a
// count, so the whole message is checked, not only the captured amount.
func askIfUnclear(s string, in intent) intent {
	if q, unclear := unclearNumber(s); unclear {
		return intent{Text: q}
	}
	return in
}

// finish canonicalises the arguments a rule captured: symbols upper-cased,
// addresses and hashes exactly as typed, amounts exact. It rejects a match
// whose "symbol" is an ordinary word, so the next rule (or the fallback) gets
// a chance instead.
func finish(args map[string]string) (map[string]string, bool) {
	for k, v := range args {
		switch k {
		case "token", "from", "to", "token_a", "token_b":
			if isHexToken(v) || isBase58Address(v) {
				continue
			}
			if notSymbols[v] {
				return nil, false
			}
			args[k] = strings.ToUpper(v)
		case "amount":
			if v != "unlimited" {
				args[k] = canonicalAmount(v)
			}
		}
	}
	return args, true
}

// amountOrUnlimited picks whichever alternative of "AMT|UNL" matched.
func amountOrUnlimited(amt, unl string) string {
	if unl != "" {
		return "unlimited"
	}
	return amt
}

func first(m []string) string {
	for _, v := range m {
		if v != "" {
			return v
		}
	}
	return ""
}
