package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is mandate.yaml; every field can be overridden by the environment
// variable named beside it (the environment wins).
type Config struct {
	RPCURL      string `yaml:"rpc_url"`      // MANDATE_RPC_URL
	ChainID     int64  `yaml:"chain_id"`     // MANDATE_CHAIN_ID
	PrivateKey  string `yaml:"private_key"`  // MANDATE_PRIVATE_KEY (tests and devnet only)
	Keystore    string `yaml:"keystore"`     // MANDATE_KEYSTORE
	Wallet      string `yaml:"wallet"`       // MANDATE_WALLET: keystore account to use
	Policy      string `yaml:"policy"`       // MANDATE_POLICY
	DB          string `yaml:"db"`           // MANDATE_DB
	TokenList   string `yaml:"tokenlist"`    // MANDATE_TOKENLIST
	SafeService string `yaml:"safe_service"` // MANDATE_SAFE_SERVICE: Safe Transaction Service base URL
	LLM         struct {
		BaseURL  string `yaml:"base_url"` // MANDATE_LLM_BASE_URL
		APIKey   string `yaml:"api_key"`  // MANDATE_LLM_API_KEY
		Model    string `yaml:"model"`    // MANDATE_LLM_MODEL
		Backends string `yaml:"backends"` // MANDATE_LLM_BACKENDS
	} `yaml:"llm"`
	Solana struct {
		RPCURL string `yaml:"rpc_url"` // MANDATE_SOLANA_RPC_URL
		Key    string `yaml:"key"`     // MANDATE_SOLANA_KEY
	} `yaml:"solana"`
	Telegram struct {
		Token  string `yaml:"token"`  // TELEGRAM_BOT_TOKEN
		API    string `yaml:"api"`    // MANDATE_TELEGRAM_API
		Owners string `yaml:"owners"` // MANDATE_TELEGRAM_OWNERS
	} `yaml:"telegram"`
	Discord struct {
		Token  string `yaml:"token"`  // DISCORD_BOT_TOKEN
		API    string `yaml:"api"`    // MANDATE_DISCORD_API
		Owners string `yaml:"owners"` // MANDATE_DISCORD_OWNERS
	} `yaml:"discord"`
}

// loadConfig reads path (or ./mandate.yaml when path is empty and the file
// exists) strictly, then applies the environment.
func loadConfig(path string) (*Config, error) {
	cfg := &Config{}
	explicit := path != ""
	if !explicit {
		path = "mandate.yaml"
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, usageErr("config %s: %v", filepath.Base(path), strings.TrimPrefix(err.Error(), "yaml: "))
		}
	case explicit || !errors.Is(err, os.ErrNotExist):
		return nil, usageErr("config: %v", err)
	}
	str := func(dst *string, name string) {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			*dst = v
		}
	}
	str(&cfg.RPCURL, "MANDATE_RPC_URL")
	str(&cfg.PrivateKey, "MANDATE_PRIVATE_KEY")
	str(&cfg.Keystore, "MANDATE_KEYSTORE")
	str(&cfg.Wallet, "MANDATE_WALLET")
	str(&cfg.Policy, "MANDATE_POLICY")
	str(&cfg.DB, "MANDATE_DB")
	str(&cfg.TokenList, "MANDATE_TOKENLIST")
	str(&cfg.SafeService, "MANDATE_SAFE_SERVICE")
	str(&cfg.LLM.BaseURL, "MANDATE_LLM_BASE_URL")
	str(&cfg.LLM.APIKey, "MANDATE_LLM_API_KEY")
	str(&cfg.LLM.Model, "MANDATE_LLM_MODEL")
	str(&cfg.LLM.Backends, "MANDATE_LLM_BACKENDS")
	str(&cfg.Solana.RPCURL, "MANDATE_SOLANA_RPC_URL")
	str(&cfg.Solana.Key, "MANDATE_SOLANA_KEY")
	str(&cfg.Telegram.Token, "TELEGRAM_BOT_TOKEN")
	str(&cfg.Telegram.API, "MANDATE_TELEGRAM_API")
	str(&cfg.Telegram.Owners, "MANDATE_TELEGRAM_OWNERS")
	str(&cfg.Discord.Token, "DISCORD_BOT_TOKEN")
	str(&cfg.Discord.API, "MANDATE_DISCORD_API")
	str(&cfg.Discord.Owners, "MANDATE_DISCORD_OWNERS")
	if v := os.Getenv("MANDATE_CHAIN_ID"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, usageErr("MANDATE_CHAIN_ID must be a positive decimal chain id; got %q", v)
		}
		cfg.ChainID = id
	}
	return cfg, nil
}
