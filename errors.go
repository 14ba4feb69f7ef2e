package mandate

import (
	"errors"
	"fmt"
)

// Errors of a configuration that cannot make a runtime. A front end branches
// on them with errors.Is to add how to fix them in its own terms (an
// environment variable, a flag, a field of its file).
var (
	// ErrNoChain: neither an RPC URL nor the devnet was configured.
	ErrNoChain = errors.New("mandate: no chain is configured: give an RPC URL, or ask for the devnet")
	// ErrNoKey: no signer, raw key or keystore account could be chosen.
	ErrNoKey = errors.New("mandate: no wallet key is configured")
	// ErrPassphrase: a keystore account needs a passphrase and none was
	// given.
	ErrPassphrase = errors.New("mandate: the keystore account needs a passphrase")
)

// ConfigError is a Config field whose value cannot be used. Field is the
// field's key in mandate.yaml (rpc_url, private_key, tokenlist, …), which
// LoadConfig's environment variables map onto one to one (EnvVar).
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("mandate: %s: %v", e.Field, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(field string, err error) error { return &ConfigError{Field: field, Err: err} }

func configErrf(field, format string, a ...any) error {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, a...)}
}
