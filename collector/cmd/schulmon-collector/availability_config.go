package main

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// newAvailabilityCmd is `availability`: service calendars and targets.
func newAvailabilityCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "availability", Short: "Service calendars, targets and criticality for availability reports"}
	cmd.AddCommand(newCalendarCmd(), newAvailabilityAssignCmd(), newAvailabilityRulesCmd(), newAvailabilityGapCmd(), newAvailabilityRetireCmd())
	return cmd
}

// newAvailabilityGapCmd records a known monitoring gap, e.g. a school's
// uplink outage reported by the network provider: silence during it is
// unknown, never down. The running collector applies it within 30 s.
func newAvailabilityGapCmd() *cobra.Command {
	var f commonFlags
	var w windowFlags
	var site string
	cmd := &cobra.Command{
		Use:   "gap --site S --from … --to …",
		Short: "Record a known monitoring gap (uplink down) of a site: unknown, not down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if site == "" || w.from == "" || w.to == "" {
				return errors.New("give --site, --from and --to")
			}
			win, _, err := w.window("")
			if err != nil {
				return err
			}
			return withDirectory(cmd.Context(), &f, func(d *tenancy.Directory) error {
				s, err := d.SiteByName(cmd.Context(), site)
				if err != nil {
					return fmt.Errorf("%w (see site list)", err)
				}
				if err := availability.Migrate(cmd.Context(), d.DB()); err != nil {
					return err
				}
				if err := availability.RecordGap(cmd.Context(), d.DB(), s.ID, availability.CauseUplinkDown, win.From, win.To); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "gap recorded for %s: %s to %s (uplink_down)\n", s.Name, win.From.Format(time.RFC3339), win.To.Format(time.RFC3339))
				return nil
			})
		},
	}
	f.register(cmd)
	w.register(cmd, "gap")
	cmd.Flags().StringVar(&site, "site", "", "site whose uplink was down")
	return cmd
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"so": time.Sunday, "mo": time.Monday, "di": time.Tuesday, "mi": time.Wednesday, "do": time.Thursday, "fr": time.Friday, "sa": time.Saturday}

// parseWeekly parses "mon-fri 07:00-17:00" or "sat 08:00-12:00".
func parseWeekly(s string) (availability.WeeklyHours, error) {
	days, hours, ok := strings.Cut(strings.TrimSpace(strings.ToLower(s)), " ")
	from, to, ok2 := strings.Cut(strings.TrimSpace(hours), "-")
	if !ok || !ok2 {
		return availability.WeeklyHours{}, fmt.Errorf("--weekly %q: want e.g. \"mon-fri 07:00-17:00\"", s)
	}
	var out availability.WeeklyHours
	out.From, out.To = from, to
	for _, part := range strings.Split(days, ",") {
		a, b, isRange := strings.Cut(part, "-")
		da, ok := weekdays[a]
		if !ok {
			return out, fmt.Errorf("--weekly %q: unknown weekday %q (mon, tue, …)", s, a)
		}
		if !isRange {
			out.Days = append(out.Days, da)
			continue
		}
		db, ok := weekdays[b]
		if !ok {
			return out, fmt.Errorf("--weekly %q: unknown weekday %q", s, b)
		}
		for d := da; ; d = (d + 1) % 7 {
			out.Days = append(out.Days, d)
			if d == db {
				break
			}
		}
	}
	return out, nil
}

func newCalendarCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "calendar", Short: "Service calendars (24x7 by default)"}
	var f commonFlags
	var weekly, ics []string
	var tz string
	var until string
	add := &cobra.Command{
		Use:   "add NAME --weekly \"mon-fri 07:00-17:00\" [--tz Europe/Berlin] [--ics holidays.ics ...]",
		Short: "Create or replace a weekly service calendar with exceptions from iCalendar files",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cal := availability.Calendar{Name: args[0], Kind: availability.KindWeekly, TZ: tz}
			if len(weekly) == 0 {
				cal.Kind = availability.Kind24x7
			}
			for _, w := range weekly {
				h, err := parseWeekly(w)
				if err != nil {
					return err
				}
				cal.Weekly = append(cal.Weekly, h)
			}
			l, err := time.LoadLocation(tz)
			if err != nil {
				return fmt.Errorf("--tz %q: %w", tz, err)
			}
			end, err := availability.ParseTime(until, l)
			if err != nil {
				return fmt.Errorf("--expand-until: %w", err)
			}
			for _, path := range ics {
				fh, err := os.Open(path)
				if err != nil {
					return fmt.Errorf("read iCalendar file: %w", err)
				}
				ex, err := availability.ParseICS(fh, l, end)
				fh.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				cal.Exceptions = append(cal.Exceptions, ex...)
			}
			return withAvailability(cmd.Context(), &f, func(db *sql.DB) error {
				if err := availability.SaveCalendar(cmd.Context(), db, cal); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "calendar %s: %s, %d weekly ranges, %d exceptions\n", cal.Name, cal.Kind, len(cal.Weekly), len(cal.Exceptions))
				return nil
			})
		},
	}
	f.register(add)
	add.Flags().StringArrayVar(&weekly, "weekly", nil, "service hours, e.g. \"mon-fri 07:00-17:00\" (repeatable; none: 24x7 with exceptions)")
	add.Flags().StringVar(&tz, "tz", "Europe/Berlin", "time zone of the hours and all-day exceptions")
	add.Flags().StringArrayVar(&ics, "ics", nil, "iCalendar file of holidays to exclude (repeatable)")
	add.Flags().StringVar(&until, "expand-until", fmt.Sprintf("%d-12-31", time.Now().Year()+5), "expand recurring iCalendar events up to this date")
	cmd.AddCommand(add)
	return cmd
}

func newAvailabilityAssignCmd() *cobra.Command {
	var f commonFlags
	var s availability.Scope
	var calendar, target, critical string
	cmd := &cobra.Command{
		Use:   "assign [--municipality M] [--site S] [--class C] [--device D] (--calendar NAME | --target 99.95 | --critical true|false)",
		Short: "Assign a calendar, target or criticality to a scope (the most specific rule wins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rules []availability.Rule
			if calendar != "" {
				rules = append(rules, availability.Rule{Kind: availability.RuleCalendar, Scope: s, Value: calendar})
			}
			if target != "" {
				t, err := availability.ParseTarget(target)
				if err != nil {
					return err
				}
				rules = append(rules, availability.Rule{Kind: availability.RuleTarget, Scope: s, Value: fmt.Sprint(int64(t))})
			}
			if critical != "" {
				rules = append(rules, availability.Rule{Kind: availability.RuleCritical, Scope: s, Value: critical})
			}
			if len(rules) == 0 {
				return errors.New("give --calendar, --target or --critical")
			}
			return withAvailability(cmd.Context(), &f, func(db *sql.DB) error {
				for _, r := range rules {
					if err := availability.SetRule(cmd.Context(), db, r); err != nil {
						return err
					}
					v := r.Value
					if r.Kind == availability.RuleTarget {
						v = target + " %"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s for %s: %s\n", r.Kind, r.Scope, v)
				}
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&s.Municipality, "municipality", "", "municipality")
	cmd.Flags().StringVar(&s.Site, "site", "", "site")
	cmd.Flags().StringVar(&s.Class, "class", "", "device class")
	cmd.Flags().StringVar(&s.Device, "device", "", "device")
	cmd.Flags().StringVar(&s.Check, "check", "", "service (check instance)")
	cmd.Flags().StringVar(&calendar, "calendar", "", "calendar name (or 24x7)")
	cmd.Flags().StringVar(&target, "target", "", "availability target in percent, e.g. 99.98")
	cmd.Flags().StringVar(&critical, "critical", "", "true or false: counts for a group's any-critical-member-down figure")
	return cmd
}

func newAvailabilityRulesCmd() *cobra.Command {
	var f commonFlags
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List calendar, target and criticality assignments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAvailability(cmd.Context(), &f, func(db *sql.DB) error {
				rules, err := availability.ListRules(cmd.Context(), db)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KIND\tSCOPE\tVALUE")
				for _, r := range rules {
					v := r.Value
					if r.Kind == availability.RuleTarget {
						var t int64
						fmt.Sscan(v, &t)
						v = availability.Target(t).Percent() + " %"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Kind, r.Scope, v)
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd)
	return cmd
}

// newAvailabilityRetireCmd takes a decommissioned device (or service) out
// of monitoring, so that its silence is not an endless outage.
func newAvailabilityRetireCmd() *cobra.Command {
	var f commonFlags
	var site, device, check, at, tz string
	cmd := &cobra.Command{
		Use:   "retire --site S --device D [--check C] [--at TIME]",
		Short: "Take a decommissioned device or service out of monitoring (reports count it until --at)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if site == "" || device == "" {
				return errors.New("give --site and --device")
			}
			when := time.Now()
			if at != "" {
				l, err := time.LoadLocation(tz)
				if err != nil {
					return fmt.Errorf("--tz %q: %w", tz, err)
				}
				if when, err = availability.ParseTime(at, l); err != nil {
					return fmt.Errorf("--at: %w", err)
				}
			}
			return withDirectory(cmd.Context(), &f, func(d *tenancy.Directory) error {
				s, err := d.SiteByName(cmd.Context(), site)
				if err != nil {
					return fmt.Errorf("%w (see site list)", err)
				}
				if err := availability.Migrate(cmd.Context(), d.DB()); err != nil {
					return err
				}
				if err := availability.Retire(cmd.Context(), d.DB(), availability.ObjectKey{SiteID: s.ID, Device: device, Check: check}, when); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s retired at %s\n", site, device, when.Format(time.RFC3339))
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&site, "site", "", "site")
	cmd.Flags().StringVar(&device, "device", "", "device")
	cmd.Flags().StringVar(&check, "check", "", "only this service of the device")
	cmd.Flags().StringVar(&at, "at", "", "when it left service (default now)")
	cmd.Flags().StringVar(&tz, "tz", "Europe/Berlin", "time zone of --at")
	return cmd
}
