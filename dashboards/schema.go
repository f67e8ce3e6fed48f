package dashboards

import (
	"regexp"
	"strings"
)

// TrustedTagsSection is the key under which ParseSchema lists the trusted
// tags every point may carry.
const TrustedTagsSection = "Trusted tags (every point)"

var (
	schemaHead = regexp.MustCompile(`^###\s+(.*)$`)
	schemaName = regexp.MustCompile("`([a-z0-9_]+)`")
	schemaRow  = regexp.MustCompile(`^\|\s*(tag|field)\s*\|\s*([A-Za-z0-9_]+)\s*\|`)
)

// ParseSchema reads docs/schema.md: measurement → its documented tag and
// field keys. The dashboards' tests and the InfluxDB export's tests both
// check against it, so that what the collector exports, what the schema
// says and what the panels read cannot drift apart.
func ParseSchema(text string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var cur []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "## Trusted tags") {
			cur = []string{TrustedTagsSection}
			out[cur[0]] = map[string]bool{}
			continue
		}
		if strings.HasPrefix(line, "## ") {
			cur = nil
			continue
		}
		if m := schemaHead.FindStringSubmatch(line); m != nil {
			cur = nil
			for _, n := range schemaName.FindAllStringSubmatch(m[1], -1) {
				cur = append(cur, n[1])
				if out[n[1]] == nil {
					out[n[1]] = map[string]bool{}
				}
			}
			continue
		}
		if m := schemaRow.FindStringSubmatch(line); m != nil {
			for _, c := range cur {
				out[c][m[2]] = true
			}
		}
	}
	return out
}
