package policies

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// HexBytes is a byte string written in JSON as 0x-prefixed hex.
type HexBytes []byte

func (h HexBytes) MarshalJSON() ([]byte, error) {
	return json.Marshal("0x" + hex.EncodeToString(h))
}

func (h *HexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("hex bytes must be a string: %w", err)
	}
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		if s == "" {
			*h = nil
			return nil
		}
		return fmt.Errorf("hex bytes %q must start with 0x", s)
	}
	v, err := hex.DecodeString(s[2:])
	if err != nil {
		return fmt.Errorf("hex bytes %q: %w", s, err)
	}
	*h = v
	return nil
}
