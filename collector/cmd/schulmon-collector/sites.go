package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// withDirectory opens the tenancy directory of the configured data dir.
func withDirectory(ctx context.Context, f *commonFlags, fn func(*tenancy.Directory) error) error {
	cfg, err := f.load()
	if err != nil {
		return err
	}
	dir, closeDB, err := server.OpenDirectory(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer closeDB()
	return fn(dir)
}

func newSiteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "site", Short: "Manage municipalities and sites"}

	var f commonFlags
	var municipality, schoolType string
	add := &cobra.Command{
		Use:   "add NAME --municipality M [--school-type T]",
		Short: "Add a site (a school or administration building); NAME is its unique key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if municipality == "" {
				return errors.New("--municipality is required")
			}
			return withDirectory(cmd.Context(), &f, func(d *tenancy.Directory) error {
				s, err := d.EnsureSite(cmd.Context(), municipality, args[0], schoolType)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "site %s (id %d) in %s\n", s.Name, s.ID, s.Municipality)
				return nil
			})
		},
	}
	f.register(add)
	add.Flags().StringVar(&municipality, "municipality", "", "municipality (Schulträger) the site belongs to; created if new")
	add.Flags().StringVar(&schoolType, "school-type", "", "grundschule, weiterfuehrende_schule, berufskolleg, foerderschule or verwaltung")

	var lf commonFlags
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List sites",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDirectory(cmd.Context(), &lf, func(d *tenancy.Directory) error {
				sites, err := d.Sites(cmd.Context(), nil)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(sites)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MUNICIPALITY\tSITE\tSCHOOL TYPE")
				for _, s := range sites {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Municipality, s.Name, s.SchoolType)
				}
				return tw.Flush()
			})
		},
	}
	lf.register(list)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(add, list, newSiteSetCmd())
	return cmd
}

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens (stored hashed, shown once)"}

	var f commonFlags
	var site, municipality, role, description string
	create := &cobra.Command{
		Use:   "create --site NAME --municipality NAME [--role agent]",
		Short: "Create a token; prints it as the last line (it cannot be shown again)",
		Long: `Create a token. Agent tokens are bound to one site: the collector stamps
that site on everything written with it. Missing sites and municipalities
are created. Operator and planner tokens are not bound to a site and
cannot write.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDirectory(cmd.Context(), &f, func(d *tenancy.Directory) error {
				var s *tenancy.Site
				if role == tenancy.RoleAgent {
					if site == "" {
						return errors.New("--site is required for an agent token")
					}
					st, err := d.EnsureSite(cmd.Context(), municipality, site, "")
					if err != nil {
						return err
					}
					s = &st
				}
				secret, t, err := d.CreateToken(cmd.Context(), role, s, description)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if s != nil {
					fmt.Fprintf(out, "created %s token %d (%s…) for site %s in %s; store it now, it is not shown again:\n", t.Role, t.ID, t.Prefix, s.Name, s.Municipality)
				} else {
					fmt.Fprintf(out, "created %s token %d (%s…); store it now, it is not shown again:\n", t.Role, t.ID, t.Prefix)
				}
				fmt.Fprintln(out, secret)
				return nil
			})
		},
	}
	f.register(create)
	create.Flags().StringVar(&site, "site", "", "site the token writes to (agent tokens)")
	create.Flags().StringVar(&municipality, "municipality", "", "municipality of the site (needed when the site is new)")
	create.Flags().StringVar(&role, "role", tenancy.RoleAgent, "agent, operator or planner")
	create.Flags().StringVar(&description, "description", "", "free text, e.g. the server it is for")

	var lf commonFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDirectory(cmd.Context(), &lf, func(d *tenancy.Directory) error {
				toks, err := d.Tokens(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPREFIX\tROLE\tSITE\tCREATED\tREVOKED\tDESCRIPTION")
				for _, t := range toks {
					rev := ""
					if t.RevokedAt != nil {
						rev = t.RevokedAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%d\t%s…\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Prefix, t.Role, t.Site, t.CreatedAt.Format(time.RFC3339), rev, t.Description)
				}
				return tw.Flush()
			})
		},
	}
	lf.register(list)

	var rf commonFlags
	revoke := &cobra.Command{
		Use:   "revoke ID|PREFIX",
		Short: "Revoke a token; it fails from the next request on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDirectory(cmd.Context(), &rf, func(d *tenancy.Directory) error {
				if err := d.RevokeToken(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s\n", args[0])
				return nil
			})
		},
	}
	rf.register(revoke)
	cmd.AddCommand(create, list, revoke)
	return cmd
}
