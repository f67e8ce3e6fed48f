package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/agent/pluginhost"
	"github.com/schulmon/schulmon/metric"
)

// newPluginsCmd is `schulmon-agent plugins`: what is installed, and do the
// configured checks work — without starting the agent.
func newPluginsCmd(f *flags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List installed check plugins, run the configured checks once",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the plugin executables in plugins.dir with their sha256 (for plugins.instances[].sha256)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if cfg.Plugins.Dir == "" {
				return errors.New("plugins.dir is not set in the config")
			}
			found, err := pluginhost.Discover(cfg.Plugins.Dir)
			if err != nil {
				return err
			}
			names := make([]string, 0, len(found))
			for n := range found {
				names = append(names, n)
			}
			sort.Strings(names)
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PLUGIN\tSHA256\tPATH")
			for _, n := range names {
				sum, err := fileSHA256(found[n])
				if err != nil {
					sum = "(" + err.Error() + ")"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", n, sum, found[n])
			}
			return w.Flush()
		},
	}
	test := &cobra.Command{
		Use:   "test [CHECK...]",
		Short: "Run the configured checks (or the named ones) once and print their results",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			pc := cfg.Plugins
			if len(args) > 0 {
				var keep []pluginhost.Instance
				for _, in := range pc.Instances {
					if slices.Contains(args, in.Name) {
						keep = append(keep, in)
					}
				}
				if len(keep) != len(args) {
					return fmt.Errorf("no such check among plugins.instances: want some of %s", instanceNames(pc.Instances))
				}
				pc.Instances = keep
			}
			if len(pc.Instances) == 0 {
				return errors.New("no checks configured (plugins.instances)")
			}
			device, err := deviceName(cfg)
			if err != nil {
				return err
			}
			h, err := pluginhost.New(pc, pluginhost.Options{Logger: newLogger(cfg), Device: device})
			if err != nil {
				return err
			}
			res := &checkTable{}
			if err := h.Once(cmd.Context(), res); err != nil {
				return err
			}
			if n := res.print(cmd.OutOrStdout()); n > 0 {
				return fmt.Errorf("%d check(s) could not run (status unknown)", n)
			}
			return nil
		},
	}
	cmd.AddCommand(list, test)
	return cmd
}

func instanceNames(in []pluginhost.Instance) string {
	var s []string
	for _, i := range in {
		s = append(s, i.Name)
	}
	return strings.Join(s, ", ")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkTable collects `check` points for printing.
type checkTable struct {
	mu     sync.Mutex
	points []metric.Point
}

func (c *checkTable) Add(ps ...metric.Point) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		if p.Measurement == pluginhost.MeasurementCheck {
			c.points = append(c.points, p)
		}
	}
}

// print writes one line per check and returns how many were unknown.
func (c *checkTable) print(out io.Writer) (unknown int) {
	names := []string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}
	sort.Slice(c.points, func(i, j int) bool {
		a, _ := c.points[i].Tag("check")
		b, _ := c.points[j].Tag("check")
		return a < b
	})
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CHECK\tPLUGIN\tDEVICE\tSTATUS\tMESSAGE")
	for _, p := range c.points {
		check, _ := p.Tag("check")
		plugin, _ := p.Tag("plugin")
		device, _ := p.Tag("device")
		st, _ := p.Field("status")
		msg, _ := p.Field("message")
		s := st.IntValue()
		name := fmt.Sprint(s)
		if s >= 0 && s < 4 {
			name = names[s]
		}
		if s == 3 {
			unknown++
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", check, plugin, device, name, msg.StringValue())
	}
	w.Flush()
	return unknown
}
