package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// withAvailability opens the collector's database of the configured data
// dir for the availability tables. It refuses a data dir that does not
// exist, so that a typo does not silently report on an empty database.
func withAvailability(ctx context.Context, f *commonFlags, fn func(*sql.DB) error) error {
	cfg, err := f.load()
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return fmt.Errorf("data directory %s: %w (give the collector's --data-dir)", cfg.DataDir, err)
	}
	db, err := sqlitedb.Open(ctx, server.MetaDBPath(cfg.DataDir))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := availability.Migrate(ctx, db); err != nil {
		return err
	}
	return fn(db)
}

// output opens --output (or stdout).
func avOutput(cmd *cobra.Command, path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return cmd.OutOrStdout(), func() error { return nil }, nil
	}
	fh, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", path, err)
	}
	return fh, fh.Close, nil
}

// windowFlags are --period or --from/--to with --tz.
type windowFlags struct {
	period, from, to, tz string
}

func (w *windowFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&w.period, "period", "", what+" period: 2026-10 (month), 2026-Q4, 2026 or rolling-30d")
	cmd.Flags().StringVar(&w.from, "from", "", "window start: 2026-10-01, 2026-10-01T08:00 (local) or RFC 3339")
	cmd.Flags().StringVar(&w.to, "to", "", "window end (exclusive), like --from")
	cmd.Flags().StringVar(&w.tz, "tz", "Europe/Berlin", "time zone for periods and local times")
}

func (w *windowFlags) window(defaultPeriod string) (availability.Window, *time.Location, error) {
	loc, err := time.LoadLocation(w.tz)
	if err != nil {
		return availability.Window{}, nil, fmt.Errorf("--tz %q: %w", w.tz, err)
	}
	get := func(k string) string {
		switch k {
		case "period":
			if w.period == "" && w.from == "" && w.to == "" {
				return defaultPeriod
			}
			return w.period
		case "from":
			return w.from
		case "to":
			return w.to
		}
		return ""
	}
	win, err := availability.WindowFromQuery(get, loc, time.Now())
	if err != nil {
		return win, loc, fmt.Errorf("report window: %w (use --period or --from and --to)", err)
	}
	return win, loc, nil
}

// newReportAvailabilityCmd is `report availability`.
func newReportAvailabilityCmd() *cobra.Command {
	var f commonFlags
	var w windowFlags
	var q availability.Query
	var format, rule, out string
	cmd := &cobra.Command{
		Use:   "availability [--municipality M] [--site S] [--device D] (--period 2026-10 | --from … --to …) [--format json|csv|md|html]",
		Short: "Availability against targets with error budgets, per object, site or municipality",
		Long: `Availability = up / (up + down) within each object's service calendar,
maintenance excluded; unknown time (no data, collector or uplink down) and
unreachable time (a parent was down; counted at the parent) are reported
separately and never counted as down. Error budget = (1 - target) x service
time. Groups use --rule time-weighted (sums of the members' times) or
any-critical (the group is down while any critical member is down).
See collector/availability/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			win, _, err := w.window("rolling-30d")
			if err != nil {
				return err
			}
			if q.Rule, err = availability.ParseGroupRule(rule); err != nil {
				return err
			}
			switch q.GroupBy {
			case "", "object", "site", "municipality":
			default:
				return fmt.Errorf("--group-by %q: want object, site or municipality", q.GroupBy)
			}
			switch format {
			case "json", "csv", "md", "html":
			default:
				return fmt.Errorf("--format %q: want json, csv, md or html", format)
			}
			q.Window = win
			return withAvailability(cmd.Context(), &f, func(db *sql.DB) error {
				rep, err := availability.BuildReport(cmd.Context(), db, q)
				if err != nil {
					return err
				}
				if len(rep.Rows) == 0 && rep.Total.Members == 0 && rep.Total.ServiceMS == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "note: no monitored objects match; check --municipality/--site/--device (names as in `site list`)")
				}
				wr, closeOut, err := avOutput(cmd, out)
				if err != nil {
					return err
				}
				if err := rep.Write(wr, format); err != nil {
					closeOut()
					return err
				}
				return closeOut()
			})
		},
	}
	f.register(cmd)
	w.register(cmd, "report")
	cmd.Flags().StringVar(&q.Municipality, "municipality", "", "only this municipality")
	cmd.Flags().StringVar(&q.Site, "site", "", "only this site")
	cmd.Flags().StringVar(&q.Device, "device", "", "only this device")
	cmd.Flags().StringVar(&q.Check, "check", "", "only this service (check instance)")
	cmd.Flags().StringVar(&q.Class, "class", "", "only devices of this class")
	cmd.Flags().StringVar(&q.GroupBy, "group-by", "", "rows per object, site or municipality (default: one level below the filter)")
	cmd.Flags().StringVar(&rule, "rule", "time-weighted", "group rule: time-weighted or any-critical")
	cmd.Flags().StringVar(&format, "format", "json", "json, csv, md or html")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// newOutagesCmd is `outages list`.
func newOutagesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "outages", Short: "Outages recorded by the availability engine"}
	var f commonFlags
	var w windowFlags
	var of availability.OutageFilter
	var format string
	list := &cobra.Command{
		Use:   "list [--site S] [--device D] [--period P | --from … --to …] [--state down|unknown|all] [--format table|json|csv]",
		Short: "List outages (cause, start, end, duration, affected children), newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if w.period != "" || w.from != "" || w.to != "" {
				win, _, err := w.window("")
				if err != nil {
					return err
				}
				of.From, of.To = win.From, win.To
			}
			return withAvailability(cmd.Context(), &f, func(db *sql.DB) error {
				list, err := availability.ListOutages(cmd.Context(), db, of, time.Now())
				if err != nil {
					return err
				}
				return availability.WriteOutages(cmd.OutOrStdout(), list, format)
			})
		},
	}
	f.register(list)
	w.register(list, "outage")
	list.Flags().StringVar(&of.Municipality, "municipality", "", "only this municipality")
	list.Flags().StringVar(&of.Site, "site", "", "only this site")
	list.Flags().StringVar(&of.Device, "device", "", "only this device")
	list.Flags().StringVar(&of.Check, "check", "", "only this service")
	list.Flags().StringVar(&of.Class, "class", "", "only this device class")
	list.Flags().StringVar(&of.State, "state", "down", "down, unknown or all")
	list.Flags().StringVar(&of.Cause, "cause", "", "only this cause (heartbeat_lost, snmp_timeout, reboot, trap, check_failed, …)")
	list.Flags().IntVar(&of.Limit, "limit", 1000, "at most this many")
	list.Flags().StringVar(&format, "format", "table", "table, json or csv")
	cmd.AddCommand(list)
	return cmd
}

// newMaintenanceCmd is `maintenance add|list|delete`.
func newMaintenanceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "maintenance", Short: "Planned maintenance windows (no alerts, excluded from availability)"}

	var af commonFlags
	var req availability.MaintenanceRequest
	add := &cobra.Command{
		Use:   "add (--site S | --municipality M | --device D --site S) --start 2026-11-04T22:00 (--duration 2h | --end …) [--rrule FREQ=WEEKLY;BYDAY=WE] [--reason TEXT]",
		Short: "Add a one-off or recurring (RFC 5545 RRULE) maintenance window",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Scope.Device != "" && req.Scope.Site == "" {
				return errors.New("--device needs --site (device names are unique per site)")
			}
			m, err := req.ToMaintenance(time.UTC)
			if err != nil {
				return err
			}
			m.CreatedBy = "cli:" + os.Getenv("USER")
			return withAvailability(cmd.Context(), &af, func(db *sql.DB) error {
				m, err := availability.AddMaintenance(cmd.Context(), db, m)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "maintenance window %d: %s from %s for %s", m.ID, m.Scope, m.Start.In(avLoc(m.TZ)).Format("2006-01-02 15:04 MST"), m.Duration)
				if m.RRule != "" {
					fmt.Fprintf(cmd.OutOrStdout(), ", repeating %s", m.RRule)
				}
				fmt.Fprintln(cmd.OutOrStdout())
				return nil
			})
		},
	}
	af.register(add)
	add.Flags().StringVar(&req.Scope.Municipality, "municipality", "", "all sites of this municipality")
	add.Flags().StringVar(&req.Scope.Site, "site", "", "this site")
	add.Flags().StringVar(&req.Scope.Device, "device", "", "this device (with --site)")
	add.Flags().StringVar(&req.Scope.Class, "class", "", "only devices of this class")
	add.Flags().StringVar(&req.Scope.Check, "check", "", "only this service")
	add.Flags().StringVar(&req.Start, "start", "", "start: local time in --tz (2026-11-04T22:00) or RFC 3339")
	add.Flags().StringVar(&req.End, "end", "", "end of the (first) window")
	add.Flags().StringVar(&req.Duration, "duration", "", "length of each window, e.g. 2h")
	add.Flags().StringVar(&req.RRule, "rrule", "", "RFC 5545 recurrence, e.g. FREQ=WEEKLY;BYDAY=WE;UNTIL=20271231T000000Z")
	add.Flags().StringVar(&req.TZ, "tz", "Europe/Berlin", "time zone of --start and of the recurrence")
	add.Flags().StringVar(&req.Reason, "reason", "", "why (shown in lists and reports)")

	var lf commonFlags
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List maintenance windows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAvailability(cmd.Context(), &lf, func(db *sql.DB) error {
				all, err := availability.ListMaintenance(cmd.Context(), db)
				if err != nil {
					return err
				}
				if asJSON {
					return avJSON(cmd.OutOrStdout(), all)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSCOPE\tSTART\tDURATION\tRRULE\tREASON")
				for _, m := range all {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Scope, m.Start.In(avLoc(m.TZ)).Format("2006-01-02 15:04 MST"), m.Duration, m.RRule, m.Reason)
				}
				return tw.Flush()
			})
		},
	}
	lf.register(list)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var df commonFlags
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a maintenance window",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id int64
			if _, err := fmt.Sscan(args[0], &id); err != nil {
				return fmt.Errorf("maintenance window id %q is not a number (see maintenance list)", args[0])
			}
			return withAvailability(cmd.Context(), &df, func(db *sql.DB) error {
				if err := availability.DeleteMaintenance(cmd.Context(), db, id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "maintenance window %d deleted\n", id)
				return nil
			})
		},
	}
	df.register(del)
	cmd.AddCommand(add, list, del)
	return cmd
}

func avLoc(tz string) *time.Location {
	if l, err := time.LoadLocation(tz); err == nil && tz != "" {
		return l
	}
	return time.UTC
}

func avJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
