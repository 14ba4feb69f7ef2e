package offline

import (
	"regexp"
	"strconv"
	"strings"
)

// Standing orders are the one place a condition is understood offline: the
// condition is not checked here, it is handed to order_place, whose watcher
// checks it at every block and executes through the policy. So these rules
// run before the blanket refusal of conditional instructions, and they are
// anchored as tightly as the others: an order is placed only when the whole
// message is an order.
const (
	toolOrderPlace  = "order_place"
	toolOrderList   = "order_list"
	toolOrderCancel = "order_cancel"
)

const (
	pWhen  = `(?:when|if|once|as soon as)`
	pBelow = `(?:is |goes |falls |drops |gets |trades )?(?:at or below|below|under|<=|<|=<|drops to|falls to|to)`
	pAbove = `(?:is |goes |rises |gets |trades )?(?:at or above|above|over|>=|>|=>|reaches|hits|rises to)`
	pLimit = `(?:(?:place |set |create |make )?(?:a )?limit order(?: to)? )?`
	pStop  = `(?:place |set |create |make )?(?:a )?stop(?: |-)?loss(?: order)?(?: to)? `
	pEvery = `every (\d+ )?(minute|minutes|hour|hours|day|days|week|weeks|h|d|w)`
	pFor   = `for (\d+|a|an|one) (minutes?|hours?|days?|weeks?|times|runs|buys|purchases)`
)

// orderRule reads one phrasing of an order into order_place arguments.
type orderRule struct {
	re    *regexp.Regexp
	build func(m []string) (map[string]string, bool)
}

func or(pattern string, build func(m []string) (map[string]string, bool)) orderRule {
	p := strings.NewReplacer("AMT", pAmt, "TOK", pTok, "WHEN", pWhen, "BELOW", pBelow, "ABOVE", pAbove,
		"LIMIT", pLimit, "STOP", pStop, "EVERY", pEvery, "FOR", pFor).Replace(pattern)
	return orderRule{re: regexp.MustCompile("^(?:" + p + ")$"), build: build}
}

func place(kind, from, to, amount, trigger string) map[string]string {
	return map[string]string{"kind": kind, "from": from, "to": to, "amount": amount, "trigger": trigger}
}

var orderRules = []orderRule{
	// buy ETH with 300 USDC when ETH is below 2900
	or(`LIMITbuy TOK with AMT TOK WHEN TOK BELOW AMT(?: TOK)?`, func(m []string) (map[string]string, bool) {
		return place("limit", m[3], m[1], m[2], strings.ToUpper(m[4])+" <= "+canonicalAmount(m[5])), true
	}),
	or(`LIMITbuy TOK with AMT TOK WHEN TOK ABOVE AMT(?: TOK)?`, func(m []string) (map[string]string, bool) {
		return place("limit", m[3], m[1], m[2], strings.ToUpper(m[4])+" >= "+canonicalAmount(m[5])), true
	}),
	// sell 1 ETH for USDC when ETH is above 3500 (a limit) / below 2500 (a stop)
	or(`LIMIT(?:sell|swap|convert) AMT TOK (?:to|for|into) TOK WHEN TOK ABOVE AMT(?: TOK)?`, func(m []string) (map[string]string, bool) {
		return place("limit", m[2], m[3], m[1], strings.ToUpper(m[4])+" >= "+canonicalAmount(m[5])), true
	}),
	or(`LIMIT(?:sell|swap|convert) AMT TOK (?:to|for|into) TOK WHEN TOK BELOW AMT(?: TOK)?`, func(m []string) (map[string]string, bool) {
		return place("stop", m[2], m[3], m[1], strings.ToUpper(m[4])+" <= "+canonicalAmount(m[5])), true
	}),
	// stop loss: sell 1 ETH for USDC at 2500 / if ETH drops below 2500
	or(`STOP(?:sell|swap) AMT TOK (?:to|for|into) TOK (?:at|WHEN TOK BELOW) AMT(?: TOK)?`, func(m []string) (map[string]string, bool) {
		subj := m[4]
		if subj == "" {
			subj = m[2]
		}
		return place("stop", m[2], m[3], m[1], strings.ToUpper(subj)+" <= "+canonicalAmount(m[5])), true
	}),
	// buy 100 USDC of WETH every day for a week; dca 50 DAI into ETH every 12 hours for 10 times
	or(`(?:buy|dca|invest) AMT TOK (?:of|into|in|worth of) TOK EVERY FOR`, func(m []string) (map[string]string, bool) {
		trig, ok := schedule(m[4], m[5], m[6], m[7])
		if !ok {
			return nil, false
		}
		return place("dca", m[2], m[3], m[1], trig), true
	}),
}

var listOrdersRe = regexp.MustCompile(`^(?:(?:list|show|see|view|what are) )?(?:my |all |the |all my )?(?:open |active |pending |standing )*(?:limit |dca )?orders$`)
var cancelOrderRe = regexp.MustCompile(`^(?:cancel|delete|remove|stop) (?:my |the )?(?:standing |limit |dca |stop )?order (?:number |no |#)?#?(\d{1,18})$`)

var unitHours = map[string]int{"minute": 0, "hour": 1, "h": 1, "day": 24, "d": 24, "week": 168, "w": 168}

func unitOf(u string) string { return strings.TrimSuffix(u, "s") }

// schedule turns "every [n] unit" and "for k unit|times" into the DCA
// trigger order_place reads ("every 24h for 7"); the span must be a whole
// number of intervals.
func schedule(n, unit, k, span string) (string, bool) {
	every := 1
	if n = strings.TrimSpace(n); n != "" {
		every, _ = strconv.Atoi(n)
	}
	count := 1
	if k != "a" && k != "an" && k != "one" {
		count, _ = strconv.Atoi(k)
	}
	u := unitOf(unit)
	if every < 1 || count < 1 {
		return "", false
	}
	minutes := func(unit string, n int) int {
		if unit == "minute" {
			return n
		}
		return unitHours[unit] * 60 * n
	}
	step := minutes(u, every)
	runs := count
	switch s := unitOf(span); s {
	case "time", "run", "buy", "purchase":
	default:
		total := minutes(s, count)
		if step == 0 || total%step != 0 {
			return "", false
		}
		runs = total / step
	}
	if step == 0 || runs < 1 {
		return "", false
	}
	every, unit = step, "m"
	for _, u := range []struct {
		name string
		min  int
	}{{"w", 7 * 24 * 60}, {"d", 24 * 60}, {"h", 60}} {
		if step%u.min == 0 {
			every, unit = step/u.min, u.name
			break
		}
	}
	return "every " + strconv.Itoa(every) + unit + " for " + strconv.Itoa(runs), true
}

// parseOrder reads a message as a standing-order command, if it is one.
func parseOrder(s string) (intent, bool) {
	if listOrdersRe.MatchString(s) {
		return intent{Tool: toolOrderList, Args: map[string]string{}}, true
	}
	if m := cancelOrderRe.FindStringSubmatch(s); m != nil {
		return intent{Tool: toolOrderCancel, Args: map[string]string{"id": m[1]}}, true
	}
	for _, ru := range orderRules {
		m := ru.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		args, ok := ru.build(m)
		if !ok {
			continue
		}
		trigger, kind := args["trigger"], args["kind"]
		delete(args, "trigger")
		delete(args, "kind")
		args, ok = finish(args)
		if !ok {
			continue
		}
		args["trigger"], args["kind"] = trigger, kind
		return intent{Tool: toolOrderPlace, Args: args}, true
	}
	return intent{}, false
}
