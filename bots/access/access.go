// Package access is who may do what through a chat bot, the same on every platform:
// owners may call every tool (the policy still decides), everyone else only read-only
// ones, and the lists that name owners and allowed people are read the same way.
//
// What a person may reach is decided from the tools' traits, not from a list of tool
// names, and a non-owner talks to an agent that holds no other tool at all: no wording of
// a request can reach one that moves value.
package access

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mandatehq/mandate/tools"
)

// OwnersOnly is what a non-owner hears when they ask for something that moves value.
const OwnersOnly = "Only an owner can move value with this bot. You can ask for prices, quotes, pools and balances."

// GuestPrompt tells the model who it is talking to when that is not the owner.
const GuestPrompt = `The person writing now is not the wallet's owner. You have only read-only tools (prices, quotes, pools, balances). If they ask to move value, say plainly that only the owner can do that.`

// ReadOnly is the registry of reg's read-only tools: everything a non-owner's agent holds.
func ReadOnly(reg *tools.Registry) *tools.Registry {
	out := &tools.Registry{}
	for _, t := range reg.List() {
		if tools.TraitsOf(t).ReadOnly {
			out.Add(t)
		}
	}
	return out
}

// TakesKey reports whether t's arguments include an idempotency key. A bot keys each call
// it makes for a message or an interaction with that message's id, so that a platform
// redelivering it, or a second replica handling it, acts once.
func TakesKey(t tools.Tool) bool {
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(t.Schema(), &schema); err != nil {
		return false
	}
	_, ok := schema.Properties["idempotency_key"]
	return ok
}

// Set is ids as a set, for "is this person an owner" and the allowlists.
func Set[K comparable](ids []K) map[K]bool {
	m := make(map[K]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// BadIDError is an id in a list that is not one; the command line reports it as a
// usage error.
type BadIDError struct {
	Where string // where the list came from, e.g. "MANDATE_TELEGRAM_OWNERS or --owners"
	ID    string
	Want  string // what an id of this platform looks like
}

func (e *BadIDError) Error() string {
	return fmt.Sprintf("%s: %q is not %s", e.Where, e.ID, e.Want)
}

// TelegramIDs reads comma-separated Telegram user or chat ids (whole numbers; a group's
// is negative), from where (named in the error).
func TelegramIDs(s, where string) ([]int64, error) {
	return list(s, func(f string) (int64, error) {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id == 0 {
			return 0, &BadIDError{Where: where, ID: f, Want: "a Telegram id (a whole number, e.g. 123456789)"}
		}
		return id, nil
	})
}

// DiscordIDs reads comma-separated Discord ids (snowflakes: decimal numbers, kept as the
// strings Discord sends), from where (named in the error).
func DiscordIDs(s, where string) ([]string, error) {
	return list(s, func(f string) (string, error) {
		if strings.Trim(f, "0123456789") != "" || len(f) > 20 || strings.Trim(f, "0") == "" {
			return "", &BadIDError{Where: where, ID: f, Want: "a Discord id (a number like 123456789012345678; Developer Mode → Copy User ID)"}
		}
		return f, nil
	})
}

// list reads s's comma-separated, trimmed, non-empty fields with parse.
func list[K any](s string, parse func(string) (K, error)) ([]K, error) {
	var out []K
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}
