package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/tenancy"
)

func newDeviceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Devices of a site and their dependencies (parents)"}

	var f commonFlags
	var site, device, parent string
	var clear bool
	set := &cobra.Command{
		Use:   "set-parent --site S --device D (--parent P | --clear)",
		Short: "Set the device a device depends on (uplink router, access switch)",
		Long: `Set the parent of a device: while the parent is down, the device is
unreachable and the outage is counted once, at the parent. A parent set
here wins over one derived from LLDP; --clear removes it, so that LLDP
decides again. A running collector applies the change within a minute
(the API, PUT /api/v1/sites/{site}/devices/{device}/parent, at once).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if site == "" || device == "" {
				return errors.New("--site and --device are required")
			}
			if (parent == "") == !clear {
				return errors.New("give either --parent NAME or --clear")
			}
			return withDirectory(cmd.Context(), &f, func(d *tenancy.Directory) error {
				s, err := d.SiteByName(cmd.Context(), site)
				if err != nil {
					return fmt.Errorf("site %q: %w (see 'schulmon-collector site list')", site, err)
				}
				if err := d.SetParent(cmd.Context(), s.ID, device, parent); err != nil {
					return fmt.Errorf("set parent of %s/%s: %w", site, device, err)
				}
				if clear {
					fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: no manual parent; LLDP decides\n", site, device)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s/%s depends on %s (manual)\n", site, device, parent)
				}
				return nil
			})
		},
	}
	f.register(set)
	set.Flags().StringVar(&site, "site", "", "site of the device")
	set.Flags().StringVar(&device, "device", "", "device name")
	set.Flags().StringVar(&parent, "parent", "", "name of the device it depends on (same site)")
	set.Flags().BoolVar(&clear, "clear", false, "remove the manual parent")

	var lf commonFlags
	var lsite string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list --site S",
		Short: "List a site's devices with their parents: the manual one and the one applied (manual or LLDP)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lsite == "" {
				return errors.New("--site is required")
			}
			return withDirectory(cmd.Context(), &lf, func(d *tenancy.Directory) error {
				s, err := d.SiteByName(cmd.Context(), lsite)
				if err != nil {
					return fmt.Errorf("site %q: %w (see 'schulmon-collector site list')", lsite, err)
				}
				devs, err := d.Devices(cmd.Context(), s.ID)
				if err != nil {
					return err
				}
				if err := availability.Migrate(cmd.Context(), d.DB()); err != nil {
					return err
				}
				deps, err := availability.Dependencies(cmd.Context(), d.DB(), s.ID)
				if err != nil {
					return err
				}
				applied := map[string]availability.Dependency{}
				for _, dep := range deps {
					applied[dep.Device] = dep
				}
				type row struct {
					Device       string `json:"device"`
					Class        string `json:"class"`
					ManualParent string `json:"manual_parent,omitempty"`
					Parent       string `json:"parent,omitempty"`
					ParentSource string `json:"parent_source,omitempty"`
				}
				rows := make([]row, 0, len(devs))
				for _, dv := range devs {
					a := applied[dv.Name]
					rows = append(rows, row{dv.Name, dv.Class, dv.Parent, a.Parent, a.Source})
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "DEVICE\tCLASS\tMANUAL PARENT\tPARENT\tSOURCE")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Device, r.Class, r.ManualParent, r.Parent, r.ParentSource)
				}
				return tw.Flush()
			})
		},
	}
	lf.register(list)
	list.Flags().StringVar(&lsite, "site", "", "site")
	list.Flags().BoolVar(&asJSON, "json", false, "JSON output")

	cmd.AddCommand(set, list)
	return cmd
}
