package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/collector/enroll"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/tlscert"
)

// withEnrollment opens the enrollment store of the configured data dir.
func withEnrollment(ctx context.Context, f *commonFlags, fn func(*tenancy.Directory, *enroll.Store) error) error {
	cfg, err := f.load()
	if err != nil {
		return err
	}
	dir, closeDB, err := server.OpenDirectory(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer closeDB()
	st, err := enroll.New(ctx, dir.DB(), dir)
	if err != nil {
		return err
	}
	return fn(dir, st)
}

func newEnrollmentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "enrollment",
		Aliases: []string{"enroll"},
		Short:   "Create, list and revoke enrollment tokens (agents trade them for their own token)",
		Long: `An enrollment token lets the administrator at a school run
  schulmon-agent enroll --collector URL --enrollment-token se_…
which stores the agent's own token in its state directory; the agent's
config file then holds no secret. Enrollment tokens are bound to one site,
expire, can be used once (default) or several times, and can be revoked.`,
	}

	var f commonFlags
	var site, municipality, description string
	var expires time.Duration
	var uses int
	create := &cobra.Command{
		Use:   "create --site NAME --municipality NAME [--expires 24h] [--uses 1]",
		Short: "Create an enrollment token; prints it as the last line (it cannot be shown again)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if site == "" {
				return errors.New("--site is required: the agents enrolled with this token report for that site")
			}
			return withEnrollment(cmd.Context(), &f, func(d *tenancy.Directory, st *enroll.Store) error {
				s, err := d.EnsureSite(cmd.Context(), municipality, site, "")
				if err != nil {
					return err
				}
				secret, t, err := st.Create(cmd.Context(), s, expires, uses, description)
				if err != nil {
					return err
				}
				n := "any number of times"
				if uses > 0 {
					n = fmt.Sprintf("%d time(s)", uses)
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "created enrollment token %d (%s…) for site %s in %s, valid until %s, usable %s; store it now, it is not shown again:\n",
					t.ID, t.Prefix, s.Name, s.Municipality, t.ExpiresAt.Format(time.RFC3339), n)
				fmt.Fprintln(out, secret)
				return nil
			})
		},
	}
	f.register(create)
	create.Flags().StringVar(&site, "site", "", "site the enrolled agents report for")
	create.Flags().StringVar(&municipality, "municipality", "", "municipality of the site (needed when the site is new)")
	create.Flags().DurationVar(&expires, "expires", 24*time.Hour, "lifetime, e.g. 2h, 24h, 168h")
	create.Flags().IntVar(&uses, "uses", 1, "how many agents may enroll with it (0: any number until it expires)")
	create.Flags().StringVar(&description, "description", "", "free text, e.g. who it was given to")

	var lf commonFlags
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List enrollment tokens (never their secrets) and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnrollment(cmd.Context(), &lf, func(_ *tenancy.Directory, st *enroll.Store) error {
				toks, err := st.List(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(toks)
				}
				now := time.Now()
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPREFIX\tSITE\tMUNICIPALITY\tSTATE\tUSES\tEXPIRES\tDESCRIPTION")
				for _, t := range toks {
					max := "∞"
					if t.MaxUses > 0 {
						max = fmt.Sprint(t.MaxUses)
					}
					fmt.Fprintf(tw, "%d\t%s…\t%s\t%s\t%s\t%d/%s\t%s\t%s\n", t.ID, t.Prefix, t.Site, t.Municipality, t.State(now), t.Uses, max, t.ExpiresAt.Format(time.RFC3339), t.Description)
				}
				return tw.Flush()
			})
		},
	}
	lf.register(list)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var rf commonFlags
	revoke := &cobra.Command{
		Use:   "revoke ID|PREFIX",
		Short: "Revoke an enrollment token (agent tokens issued through it stay valid; see 'token revoke')",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnrollment(cmd.Context(), &rf, func(_ *tenancy.Directory, st *enroll.Store) error {
				if err := st.Revoke(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked enrollment token %s\n", args[0])
				return nil
			})
		},
	}
	rf.register(revoke)
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tls", Short: "Create a self-signed certificate, show a certificate's fingerprint"}

	var f commonFlags
	var hosts, certFile, keyFile string
	var force bool
	self := &cobra.Command{
		Use:   "selfsigned [--data-dir DIR] [--hosts a,b]",
		Short: "Create a self-signed certificate and key (ECDSA P-256) and print the fingerprint agents pin",
		Long: `Create a self-signed certificate and key for a first start, in
DATA_DIR/tls/collector.crt and collector.key unless --cert-file/--key-file
say otherwise, and print its SHA-256 fingerprint. Put the two paths into
the collector config (tls.cert_file, tls.key_file) and the fingerprint
into each agent (collector.tls.fingerprint or 'schulmon-agent enroll
--fingerprint'); or give the agents the certificate file as their CA
(collector.tls.ca_file). An existing pair is kept unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if (certFile == "") != (keyFile == "") {
				return errors.New("give both --cert-file and --key-file, or neither")
			}
			if certFile == "" {
				certFile, keyFile = tlscert.DefaultPaths(cfg.DataDir)
			}
			var hostList []string
			if hosts != "" {
				hostList = strings.Split(hosts, ",")
			}
			hostList = append(hostList, cfg.TLS.Hosts...)
			var fp string
			created := true
			if force {
				fp, err = tlscert.Create(certFile, keyFile, tlscert.Options{Hosts: hostList})
			} else {
				fp, created, err = tlscert.Ensure(certFile, keyFile, tlscert.Options{Hosts: hostList})
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if created {
				fmt.Fprintf(out, "created %s and %s\n", certFile, keyFile)
			} else {
				fmt.Fprintf(out, "kept the existing %s and %s (use --force to replace them)\n", certFile, keyFile)
			}
			fmt.Fprintf(out, "collector config:\n  tls:\n    cert_file: %s\n    key_file: %s\n", certFile, keyFile)
			fmt.Fprintf(out, "SHA-256 fingerprint (%s):\n%s\n", tlscert.Colons(fp), fp)
			return nil
		},
	}
	f.register(self)
	self.Flags().StringVar(&hosts, "hosts", "", "comma-separated DNS names and IPs the agents use to reach the collector")
	self.Flags().StringVar(&certFile, "cert-file", "", "where to write the certificate (default DATA_DIR/tls/collector.crt)")
	self.Flags().StringVar(&keyFile, "key-file", "", "where to write the key (default DATA_DIR/tls/collector.key)")
	self.Flags().BoolVar(&force, "force", false, "replace an existing pair (agents that pinned the old fingerprint must be updated)")

	fpCmd := &cobra.Command{
		Use:   "fingerprint CERT_FILE",
		Short: "Print the SHA-256 fingerprint of a PEM certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fp, err := tlscert.FingerprintFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), fp)
			return nil
		},
	}
	cmd.AddCommand(self, fpCmd)
	return cmd
}
