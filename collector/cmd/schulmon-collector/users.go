package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/users"
)

// withUsers opens the user store next to the tenancy directory.
func withUsers(ctx context.Context, f *commonFlags, fn func(*tenancy.Directory, *users.Store) error) error {
	return withDirectory(ctx, f, func(d *tenancy.Directory) error {
		st, err := users.Open(ctx, d.DB())
		if err != nil {
			return err
		}
		return fn(d, st)
	})
}

// siteIDs resolves site names for a school_admin.
func siteIDs(ctx context.Context, d *tenancy.Directory, names []string) ([]int64, error) {
	var ids []int64
	for _, n := range names {
		s, err := d.SiteByName(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("%w (see 'site list')", err)
		}
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// readPassword takes the password from --password-file, from stdin when it
// is not a terminal, or asks twice on the terminal.
func readPassword(cmd *cobra.Command, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "New password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Repeat password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage web users (operator, school_admin, planner)"}

	var af commonFlags
	var role, pwFile string
	var sites []string
	var generate bool
	add := &cobra.Command{
		Use:   "add NAME --role operator|school_admin|planner [--site S ...] [--password-file F | --generate-password]",
		Short: "Add a local web user; the password is read from a file, stdin or the terminal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUsers(cmd.Context(), &af, func(d *tenancy.Directory, st *users.Store) error {
				ids, err := siteIDs(cmd.Context(), d, sites)
				if err != nil {
					return err
				}
				var pw string
				if generate {
					pw = users.RandomPassword()
				} else if pw, err = readPassword(cmd, pwFile); err != nil {
					return err
				}
				u, err := st.Add(cmd.Context(), args[0], role, pw, ids)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s (%s) added", u.Name, u.Role)
				if len(u.Sites) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), " for sites %s", strings.Join(u.Sites, ", "))
				}
				fmt.Fprintln(cmd.OutOrStdout())
				if generate {
					fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n", pw)
				}
				return nil
			})
		},
	}
	af.register(add)
	add.Flags().StringVar(&role, "role", "", "operator (everything), school_admin (given sites) or planner (all reports, read-only)")
	add.Flags().StringArrayVar(&sites, "site", nil, "site a school_admin may see (repeat for several)")
	add.Flags().StringVar(&pwFile, "password-file", "", "read the password from this file")
	add.Flags().BoolVar(&generate, "generate-password", false, "generate a random password and print it once")

	var lf commonFlags
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List web users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withUsers(cmd.Context(), &lf, func(_ *tenancy.Directory, st *users.Store) error {
				us, err := st.List(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(us)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tROLE\tSITES\tLOGIN\tSTATE")
				for _, u := range us {
					login, state := "password", "active"
					if u.OIDC {
						login = "sso"
					}
					if u.Disabled {
						state = "disabled"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, dashIfEmpty(strings.Join(u.Sites, ",")), login, state)
				}
				return tw.Flush()
			})
		},
	}
	lf.register(list)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var pf commonFlags
	var ppwFile string
	passwd := &cobra.Command{
		Use:   "passwd NAME [--password-file F]",
		Short: "Set a user's password (ends their sessions)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUsers(cmd.Context(), &pf, func(_ *tenancy.Directory, st *users.Store) error {
				pw, err := readPassword(cmd, ppwFile)
				if err != nil {
					return err
				}
				if err := st.SetPassword(cmd.Context(), args[0], pw); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed\n", args[0])
				return nil
			})
		},
	}
	pf.register(passwd)
	passwd.Flags().StringVar(&ppwFile, "password-file", "", "read the password from this file")

	var sf commonFlags
	var srole string
	var ssites []string
	set := &cobra.Command{
		Use:   "set NAME --role R [--site S ...]",
		Short: "Change a user's role and sites (ends their sessions)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUsers(cmd.Context(), &sf, func(d *tenancy.Directory, st *users.Store) error {
				ids, err := siteIDs(cmd.Context(), d, ssites)
				if err != nil {
					return err
				}
				if err := st.SetRole(cmd.Context(), args[0], srole, ids); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s is now %s\n", args[0], srole)
				return nil
			})
		},
	}
	sf.register(set)
	set.Flags().StringVar(&srole, "role", "", "operator, school_admin or planner")
	set.Flags().StringArrayVar(&ssites, "site", nil, "site of a school_admin (repeat for several)")

	var df commonFlags
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a web user and end their sessions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUsers(cmd.Context(), &df, func(_ *tenancy.Directory, st *users.Store) error {
				if err := st.Delete(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted\n", args[0])
				return nil
			})
		},
	}
	df.register(del)

	cmd.AddCommand(add, list, passwd, set, del)
	return cmd
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
