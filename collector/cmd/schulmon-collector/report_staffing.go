package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/collector/staffing"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// withStaffing opens the tenancy directory and the staffing store of the
// configured data dir.
func withStaffing(ctx context.Context, f *commonFlags, fn func(*tenancy.Directory, *staffing.Store) error) error {
	return withDirectory(ctx, f, func(d *tenancy.Directory) error {
		st, err := staffing.NewStore(ctx, d.DB())
		if err != nil {
			return err
		}
		return fn(d, st)
	})
}

// newReportStaffingCmd is `report staffing`: administrator FTE,
// person-days and annual cost per site, municipality and in total.
func newReportStaffingCmd() *cobra.Command {
	var f commonFlags
	var municipality, method, scenario, format, paramsPath, output string
	var maxAge time.Duration
	var vat bool
	cmd := &cobra.Command{
		Use:   "staffing [--municipality M] [--method NAME] [--scenario FILE] [--format json|csv|md|html]",
		Short: "Administrator demand (FTE, person-days, annual cost) by several published methods",
		Long: `Size the on-site administrator demand from the devices the collector sees
(agents, SNMP, endpoints in switch ARP/bridge tables, CSV imports), the
sites' school types and the measured incidents, by every method side by side:
device ratio 1:400 (KRZN; Bertelsmann 2017) and the 1:330, 1:500 and 1:300
presets, school type (Stuttgart GRDrs 1223/2023), weighted device classes and
workload. --params FILE overrides any parameter (YAML or JSON, see
collector/staffing/README.md); --scenario FILE computes a what-if against the
baseline without changing the inventory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := staffing.DefaultParams()
			if paramsPath != "" {
				var err error
				if p, err = staffing.LoadParams(paramsPath); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("vat") {
				p.VAT = vat
			}
			var sc *staffing.Scenario
			if scenario != "" {
				var err error
				if sc, err = staffing.LoadScenario(scenario); err != nil {
					return err
				}
			}
			return withStaffing(cmd.Context(), &f, func(d *tenancy.Directory, st *staffing.Store) error {
				h := &staffing.Handler{Store: st, Params: p, Load: staffing.LoadOptions{MaxAge: maxAge},
					Incidents: &staffing.SpanIncidents{DB: d.DB()}}
				rep, err := h.Compute(cmd.Context(), sc, staffing.Options{Method: method, Municipality: municipality, Incidents: h.Incidents})
				if err != nil {
					return err
				}
				var w io.Writer = cmd.OutOrStdout()
				if output != "" {
					fh, err := os.Create(output)
					if err != nil {
						return fmt.Errorf("write report: %w", err)
					}
					defer fh.Close()
					w = fh
				}
				if err := rep.Write(w, format); err != nil {
					return err
				}
				if c, ok := w.(io.Closer); ok && output != "" {
					return c.Close()
				}
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&municipality, "municipality", "", "only this municipality (name or ID)")
	cmd.Flags().StringVar(&method, "method", "", "only this method (device_ratio, ratio_erlangen, ratio_cosn, ratio_ppic, school_type, weighted, workload, or one from --params)")
	cmd.Flags().StringVar(&scenario, "scenario", "", "what-if scenario file (YAML or JSON)")
	cmd.Flags().StringVar(&format, "format", "md", "json, csv, md or html")
	cmd.Flags().StringVar(&paramsPath, "params", "", "parameter file (YAML or JSON) over the defaults")
	cmd.Flags().BoolVar(&vat, "vat", false, "add VAT to the costs (overrides the parameter file)")
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "count devices seen within this time (default 2160h = 90 days; negative: all)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

// newInventoryCmd is `inventory`: devices nothing can see, from CSV.
func newInventoryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "inventory", Short: "Device inventory for the staffing model"}
	var f commonFlags
	var appendRows bool
	imp := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Import devices no agent, SNMP poll or switch table can see",
		Long: `Import devices from a CSV file (delimiter , or ;). Columns: site (or
site_id) and class are required; municipality, count, name, hostname, mac,
serial and note are optional. A row with a MAC, serial or hostname is one
device and is deduplicated against what agents, SNMP and switch tables see;
a row without identifiers may give a count ("30 tablets in the cupboard").
By default the file replaces earlier imports of the sites it names; with
--append it adds to them. A bad row fails the whole import and is named.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fh, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("import inventory: %w", err)
			}
			defer fh.Close()
			rows, err := staffing.ParseCSV(fh)
			if err != nil {
				return fmt.Errorf("import inventory %s: %w", args[0], err)
			}
			return withStaffing(cmd.Context(), &f, func(_ *tenancy.Directory, st *staffing.Store) error {
				n, err := st.ImportDevices(cmd.Context(), rows, args[0], !appendRows, st.TenancyResolver())
				if err != nil {
					return fmt.Errorf("import inventory %s: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d devices in %d rows from %s\n", n, len(rows), args[0])
				return nil
			})
		},
	}
	f.register(imp)
	imp.Flags().BoolVar(&appendRows, "append", false, "add to earlier imports instead of replacing them")
	cmd.AddCommand(imp)
	return cmd
}

// newSiteSetCmd is `site set`: the staffing attributes of a site.
func newSiteSetCmd() *cobra.Command {
	var f commonFlags
	var schoolType string
	var pupils int
	var travel, days float64
	cmd := &cobra.Command{
		Use:   "set NAME [--school-type T] [--pupils N] [--travel-minutes M] [--contracted-person-days D]",
		Short: "Set a site's school type and staffing attributes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if !fl.Changed("school-type") && !fl.Changed("pupils") && !fl.Changed("travel-minutes") && !fl.Changed("contracted-person-days") {
				return errors.New("nothing to set: give --school-type, --pupils, --travel-minutes or --contracted-person-days")
			}
			var t staffing.SchoolType
			if fl.Changed("school-type") {
				var err error
				if t, err = staffing.ParseSchoolType(schoolType); err != nil || t == staffing.TypeUnknown {
					return fmt.Errorf("--school-type: unknown school type %q: use Grundschule, weiterführende Schule, Berufskolleg, Förderschule or Verwaltung", schoolType)
				}
			}
			return withStaffing(cmd.Context(), &f, func(d *tenancy.Directory, st *staffing.Store) error {
				s, err := d.SiteByName(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if t != staffing.TypeUnknown {
					if s, err = d.EnsureSite(cmd.Context(), "", s.Name, t.TenancyName()); err != nil {
						return err
					}
				}
				var a staffing.Attrs
				if fl.Changed("pupils") {
					a.Pupils = &pupils
				}
				if fl.Changed("travel-minutes") {
					a.TravelMinutes = &travel
				}
				if fl.Changed("contracted-person-days") {
					a.ContractedPersonDays = &days
				}
				if err := st.SetAttrs(cmd.Context(), s.ID, a); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "site %s (id %d): updated\n", s.Name, s.ID)
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&schoolType, "school-type", "", "Grundschule, weiterführende Schule, Berufskolleg, Förderschule or Verwaltung (English ids accepted)")
	cmd.Flags().IntVar(&pupils, "pupils", 0, "number of pupils")
	cmd.Flags().Float64Var(&travel, "travel-minutes", 0, "travel time per on-site visit from the administrators' base (there and back)")
	cmd.Flags().Float64Var(&days, "contracted-person-days", 0, "person-days a year the current contract buys for this site")
	return cmd
}
