package access

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestTelegramIDs(t *testing.T) {
	got, err := TelegramIDs(" 42, -1001234567890,,7 ", "--owners")
	if err != nil || !reflect.DeepEqual(got, []int64{42, -1001234567890, 7}) {
		t.Fatalf("TelegramIDs = %v, %v; want [42 -1001234567890 7]", got, err)
	}
	if got, err := TelegramIDs("", "--owners"); err != nil || len(got) != 0 {
		t.Fatalf("an empty list: %v, %v; want none and no error", got, err)
	}
	for _, bad := range []string{"alice", "0", "1.5", "42,@bob"} {
		_, err := TelegramIDs(bad, "MANDATE_TELEGRAM_OWNERS or --owners")
		var be *BadIDError
		if !errors.As(err, &be) || !strings.HasPrefix(err.Error(), "MANDATE_TELEGRAM_OWNERS or --owners: ") || !strings.Contains(err.Error(), "not a Telegram id") {
			t.Fatalf("TelegramIDs(%q): %v; want a BadIDError naming where and saying it is not a Telegram id", bad, err)
		}
	}
}

func TestDiscordIDs(t *testing.T) {
	got, err := DiscordIDs("3000000000000000001 , 42", "--owners")
	if err != nil || !reflect.DeepEqual(got, []string{"3000000000000000001", "42"}) {
		t.Fatalf("DiscordIDs = %v, %v; want the two ids as strings", got, err)
	}
	for _, bad := range []string{"alice", "000", "-5", "123456789012345678901", "<@42>"} {
		_, err := DiscordIDs(bad, "--allow-users")
		var be *BadIDError
		if !errors.As(err, &be) || be.ID != bad || !strings.Contains(err.Error(), "not a Discord id") {
			t.Fatalf("DiscordIDs(%q): %v; want a BadIDError saying it is not a Discord id", bad, err)
		}
	}
}

func TestSet(t *testing.T) {
	s := Set([]string{"1", "2"})
	if !s["1"] || !s["2"] || s["3"] {
		t.Fatalf("Set = %v", s)
	}
}
