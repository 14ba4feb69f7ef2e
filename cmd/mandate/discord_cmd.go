package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/bots/access"
	"github.com/mandatehq/mandate/bots/discord"
)

func newDiscordCmd(g *globals) *cobra.Command {
	var (
		api, owners, guilds, channels, users string
		metricsAddr                          string
		timeout                              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "discord",
		Short: "Run the Discord bot (token from DISCORD_BOT_TOKEN)",
		Long: `Runs the agent as a Discord bot on the gateway until interrupted.
The token comes from DISCORD_BOT_TOKEN (or discord.token in mandate.yaml), the
API base from MANDATE_DISCORD_API (default Discord's), the owners from
MANDATE_DISCORD_OWNERS (comma-separated user ids). It registers slash commands
(/balance, /swap, /help, …) and answers messages that mention it and DMs.
Owners may use every tool within the policy and approve what it asks a person
to confirm with its buttons; everyone else may only use read-only tools
(prices, quotes, pools, balances). Standing orders execute while it runs; their
approvals go to the owners' DMs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			file, err := g.config()
			if err != nil {
				return err
			}
			dc, err := discordConfig(file.Discord, api, owners, guilds, channels, users)
			if err != nil {
				return err
			}
			dc.ApprovalTimeout = timeout
			dc.Approver = discord.NewApprover()
			rt, err := g.openWithMetrics(ctx, metricsAddr, func(c *mandate.Config) { c.Approver = dc.Approver })
			if err != nil {
				return err
			}
			defer rt.Close()
			bot, err := discord.New(rt, dc)
			if err != nil {
				return err
			}
			rt.StartOrders()
			fmt.Fprintf(g.stderr, "mandate: Discord bot on %s, %d owner(s); Ctrl-C stops it\n", rt.Where(), len(dc.Owners))
			err = bot.Run(ctx)
			if errors.Is(err, discord.ErrUnauthorized) {
				return fmt.Errorf("%w (check DISCORD_BOT_TOKEN)", err)
			}
			return err
		},
	}
	f := cmd.Flags()
	metricsFlag(cmd, &metricsAddr)
	f.StringVar(&api, "api", "", "API base URL (default MANDATE_DISCORD_API, else Discord's)")
	f.StringVar(&owners, "owners", "", "comma-separated user ids who may move value (default MANDATE_DISCORD_OWNERS)")
	f.StringVar(&guilds, "allow-guilds", "", "comma-separated server (guild) ids the bot talks in (default: any)")
	f.StringVar(&channels, "allow-channels", "", "comma-separated channel ids the bot talks in (default: any)")
	f.StringVar(&users, "allow-users", "", "comma-separated user ids the bot talks to (default: any; owners always)")
	f.DurationVar(&timeout, "approval-timeout", discord.DefaultApprovalTimeout, "how long Approve / Reject buttons wait for an owner")
	return cmd
}

// discordConfig is the bot's configuration from mandate.yaml and the environment (bc),
// overridden by flags.
func discordConfig(bc mandate.BotConfig, api, owners, guilds, channels, users string) (discord.Config, error) {
	dc := discord.Config{Token: strings.TrimSpace(bc.Token), APIURL: bc.API}
	if dc.Token == "" {
		return dc, usageErr("no Discord bot token: set DISCORD_BOT_TOKEN (developer portal → your application → Bot → Reset Token)")
	}
	if api != "" {
		dc.APIURL = api
	}
	if owners == "" {
		owners = bc.Owners
	}
	var err error
	if dc.Owners, err = snowflakes(owners, "MANDATE_DISCORD_OWNERS or --owners"); err != nil {
		return dc, err
	}
	if dc.AllowedGuilds, err = snowflakes(guilds, "--allow-guilds"); err != nil {
		return dc, err
	}
	if dc.AllowedChannels, err = snowflakes(channels, "--allow-channels"); err != nil {
		return dc, err
	}
	if dc.AllowedUsers, err = snowflakes(users, "--allow-users"); err != nil {
		return dc, err
	}
	return dc, nil
}

// snowflakes reads comma-separated Discord ids; a bad one is a usage error.
func snowflakes(s, where string) ([]string, error) {
	ids, err := access.DiscordIDs(s, where)
	return ids, asUsage(err)
}
