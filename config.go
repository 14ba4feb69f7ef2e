package mandate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tmc/langchaingo/llms"
	"gopkg.in/yaml.v3"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/mcp/remote"
	"github.com/mandatehq/mandate/metrics"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/tools"
)

// Config is what Open assembles a runtime from. The fields with a yaml key
// are mandate.yaml's, each overridden by the environment variable named
// beside it (LoadConfig); the others are for programs only.
type Config struct {
	RPCURL     string `yaml:"rpc_url"`     // MANDATE_RPC_URL
	ChainID    int64  `yaml:"chain_id"`    // MANDATE_CHAIN_ID: refuse a node on another chain
	PrivateKey string `yaml:"private_key"` // MANDATE_PRIVATE_KEY: hex; tests and the devnet's chain only
	Keystore   string `yaml:"keystore"`    // MANDATE_KEYSTORE: directory of the encrypted keystore
	Wallet     string `yaml:"wallet"`      // MANDATE_WALLET: keystore account to use
	// Passphrase unlocks the keystore account; a secret, so neither the
	// file nor LoadConfig sets it (see PassphraseFunc).
	Passphrase  string    `yaml:"-"`
	Policy      string    `yaml:"policy"`       // MANDATE_POLICY: policy file
	DB          string    `yaml:"db"`           // MANDATE_DB: sqlite:PATH or a postgres:// URL
	TokenList   string    `yaml:"tokenlist"`    // MANDATE_TOKENLIST: path or URL
	SafeService string    `yaml:"safe_service"` // MANDATE_SAFE_SERVICE: Safe Transaction Service base URL
	LLM         LLMConfig `yaml:"llm"`
	Solana      struct {
		RPCURL string `yaml:"rpc_url"` // MANDATE_SOLANA_RPC_URL
		Key    string `yaml:"key"`     // MANDATE_SOLANA_KEY
		// JupiterURL is the Jupiter Swap API sol_quote and sol_swap use
		// (its v1 base URL); empty: those tools say none is configured.
		JupiterURL string `yaml:"jupiter_url"` // MANDATE_JUPITER_URL
		// JupiterKey is the API key a paid Jupiter endpoint wants; a
		// secret, from the environment only.
		JupiterKey string `yaml:"-"`
	} `yaml:"solana"`
	// MCPServers are external MCP servers whose tools the agent may use,
	// read-only and namespaced (NAME__TOOL), each tool's description
	// pinned when first seen (see mcp/remote).
	MCPServers []remote.Server `yaml:"mcp_servers"`
	Telegram   BotConfig       `yaml:"telegram"` // TELEGRAM_BOT_TOKEN, MANDATE_TELEGRAM_API, MANDATE_TELEGRAM_OWNERS
	Discord    BotConfig       `yaml:"discord"`  // DISCORD_BOT_TOKEN, MANDATE_DISCORD_API, MANDATE_DISCORD_OWNERS

	// Devnet starts the in-process devnet and runs on it: its contracts,
	// tokens and first funded account, a built-in policy when Policy is
	// empty, and a database of its own when DB is empty.
	Devnet        bool            `yaml:"-"`
	DevnetOptions []devnet.Option `yaml:"-"`
	// SolanaDevnet starts the local Solana runtime (LiteSVM) in-process and
	// runs the Solana tools on it: its USDC mint, its first funded account,
	// a built-in policy when Policy is empty and a database of its own when
	// DB is empty. With it and no EVM chain configured, the runtime offers
	// the Solana tools only.
	SolanaDevnet bool `yaml:"-"`
	// KeepChats keeps the conversations of a devnet run without DB in a
	// database of their own (ChatDB, or one per working directory), so
	// they carry over to the next devnet while its ledger and orders start
	// empty.
	KeepChats bool   `yaml:"-"`
	ChatDB    string `yaml:"-"`
	// PolicySource is a policy given as YAML instead of a file.
	PolicySource []byte `yaml:"-"`
	// Signer signs instead of a key from this configuration: a KMS, an
	// HSM, an external signer. It still signs only what an Approval allows.
	Signer evm.Signer `yaml:"-"`
	// PassphraseFunc asks for a keystore account's passphrase when
	// Passphrase is empty (a terminal prompt); nil: ErrPassphrase.
	PassphraseFunc func(ctx context.Context, account string) (string, error) `yaml:"-"`
	// Model replaces the configured LLM backends.
	Model llms.Model `yaml:"-"`
	// Approver is the person asked when the policy wants one to confirm
	// (a terminal prompt, a chat button); nil refuses such intents.
	Approver tools.Approver `yaml:"-"`
	// OnOrder hears each run of a standing order the watcher executes.
	OnOrder func(orders.Order, error) `yaml:"-"`
	// Notify hears what a person running the runtime should know (a new
	// chain under an old journal, where the devnet keeps its chats); nil
	// logs it.
	Notify func(msg string) `yaml:"-"`
	// Progress hears what a long step waits for (the devnet starting, a
	// receipt); nil: nothing.
	Progress io.Writer    `yaml:"-"`
	Logger   *slog.Logger `yaml:"-"`
	// Metrics, when set, hears the runtime's decisions, ledger commits,
	// nonce waits and tool calls, and reads its journal and model
	// backends at each scrape (`--metrics ADDR`).
	Metrics *metrics.Metrics `yaml:"-"`
}

// LLMConfig names the model backends in failover order (see llm.Spec).
type LLMConfig struct {
	BaseURL  string `yaml:"base_url"` // MANDATE_LLM_BASE_URL
	APIKey   string `yaml:"api_key"`  // MANDATE_LLM_API_KEY
	Model    string `yaml:"model"`    // MANDATE_LLM_MODEL
	Backends string `yaml:"backends"` // MANDATE_LLM_BACKENDS: comma-separated preset names
	// EmbeddingModel is the custom backend's embedding model.
	EmbeddingModel string `yaml:"embedding_model"` // MANDATE_LLM_EMBEDDING_MODEL
}

// BotConfig is a chat front end's settings.
type BotConfig struct {
	Token  string `yaml:"token"`
	API    string `yaml:"api"`
	Owners string `yaml:"owners"`
}

// envVars maps mandate.yaml's keys to the environment variables that
// override them, in the order LoadConfig applies them.
var envVars = []struct{ field, env string }{
	{"rpc_url", "MANDATE_RPC_URL"},
	{"chain_id", "MANDATE_CHAIN_ID"},
	{"private_key", "MANDATE_PRIVATE_KEY"},
	{"keystore", "MANDATE_KEYSTORE"},
	{"wallet", "MANDATE_WALLET"},
	{"policy", "MANDATE_POLICY"},
	{"db", "MANDATE_DB"},
	{"tokenlist", "MANDATE_TOKENLIST"},
	{"safe_service", "MANDATE_SAFE_SERVICE"},
	{"llm.base_url", "MANDATE_LLM_BASE_URL"},
	{"llm.api_key", "MANDATE_LLM_API_KEY"},
	{"llm.model", "MANDATE_LLM_MODEL"},
	{"llm.backends", "MANDATE_LLM_BACKENDS"},
	{"llm.embedding_model", "MANDATE_LLM_EMBEDDING_MODEL"},
	{"solana.rpc_url", "MANDATE_SOLANA_RPC_URL"},
	{"solana.key", "MANDATE_SOLANA_KEY"},
	{"solana.jupiter_url", "MANDATE_JUPITER_URL"},
	{"telegram.token", "TELEGRAM_BOT_TOKEN"},
	{"telegram.api", "MANDATE_TELEGRAM_API"},
	{"telegram.owners", "MANDATE_TELEGRAM_OWNERS"},
	{"discord.token", "DISCORD_BOT_TOKEN"},
	{"discord.api", "MANDATE_DISCORD_API"},
	{"discord.owners", "MANDATE_DISCORD_OWNERS"},
}

// EnvVar is the environment variable that sets a mandate.yaml field
// (ConfigError.Field), or "".
func EnvVar(field string) string {
	for _, v := range envVars {
		if v.field == field {
			return v.env
		}
	}
	return ""
}

// LoadConfig reads path (or ./mandate.yaml when path is empty and that file
// exists) strictly, then applies the environment, which wins. Errors are
// *ConfigError for a value that cannot be used; a file named but missing
// is one too (Field "config").
func LoadConfig(path string) (Config, error) {
	var cfg Config
	explicit := path != ""
	if !explicit {
		path = "mandate.yaml"
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, configErrf("config", "%s: %s", filepath.Base(path), strings.TrimPrefix(err.Error(), "yaml: "))
		}
	case explicit || !errors.Is(err, os.ErrNotExist):
		return Config{}, configErr("config", err)
	}
	fields := map[string]*string{
		"rpc_url": &cfg.RPCURL, "private_key": &cfg.PrivateKey, "keystore": &cfg.Keystore, "wallet": &cfg.Wallet,
		"policy": &cfg.Policy, "db": &cfg.DB, "tokenlist": &cfg.TokenList,
		"safe_service": &cfg.SafeService, "llm.base_url": &cfg.LLM.BaseURL, "llm.api_key": &cfg.LLM.APIKey,
		"llm.model": &cfg.LLM.Model, "llm.backends": &cfg.LLM.Backends, "llm.embedding_model": &cfg.LLM.EmbeddingModel,
		"solana.rpc_url": &cfg.Solana.RPCURL, "solana.key": &cfg.Solana.Key, "solana.jupiter_url": &cfg.Solana.JupiterURL,
		"telegram.token": &cfg.Telegram.Token, "telegram.api": &cfg.Telegram.API, "telegram.owners": &cfg.Telegram.Owners,
		"discord.token": &cfg.Discord.Token, "discord.api": &cfg.Discord.API, "discord.owners": &cfg.Discord.Owners,
	}
	for _, v := range envVars {
		val, ok := os.LookupEnv(v.env)
		if !ok || val == "" {
			continue
		}
		if v.field == "chain_id" {
			id, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
			if err != nil || id <= 0 {
				return Config{}, configErrf("chain_id", "must be a positive decimal chain id; got %q", val)
			}
			cfg.ChainID = id
			continue
		}
		*fields[v.field] = val
	}
	cfg.Solana.JupiterKey = os.Getenv("MANDATE_JUPITER_API_KEY")
	return cfg, nil
}

// String names the configuration for logs, without secrets.
func (c Config) String() string {
	chain := c.RPCURL
	if c.Devnet {
		chain = "devnet"
	}
	return fmt.Sprintf("mandate.Config{chain: %s, db: %s, policy: %s}", chain, c.DB, c.Policy)
}
