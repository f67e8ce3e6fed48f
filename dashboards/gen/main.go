// Command gen writes schulmon's Grafana dashboards (package dashboards) as
// JSON files: go run ./dashboards/gen -out dashboards/json
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/schulmon/schulmon/dashboards"
)

func main() {
	out := flag.String("out", "json", "directory to write the dashboard JSON files to")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for _, d := range dashboards.All() {
		b, err := d.JSON()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		p := filepath.Join(*out, d.FileName())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", p)
	}
}
