package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/memory"
)

func newDBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "The database (MANDATE_DB): backups",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "backup FILE",
		Short: "Copy a SQLite database to FILE while other processes use it (PostgreSQL: pg_dump)",
		Long: `Writes a consistent copy of the SQLite database in MANDATE_DB to FILE, while bots,
watchers and other commands keep using it: one read transaction (SQLite's VACUUM INTO),
so the copy holds every commit before it began and none after. FILE must not exist.
Restore by stopping every process and putting the copy in the database's place.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Stat(args[0]); err == nil {
				return usageErr("%s already exists; a backup never overwrites, choose a new file", args[0])
			}
			s, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Backup(cmd.Context(), args[0]); err != nil {
				if errors.Is(err, memory.ErrBackupPostgres) {
					return usageErr("%v", err)
				}
				return err
			}
			return g.print(map[string]any{"ok": true, "backup": args[0]}, "backed up %s to %s", g.db, args[0])
		},
	})
	return cmd
}
