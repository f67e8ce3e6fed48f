package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/loadgen"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

// stampReference is stamp as it was before it pooled its memory and
// shared strings: what stamp must still return.
func (h *Handler) stampReference(ctx context.Context, site *tenancy.Site, rows []metric.Row) ([]store.Point, *Batch, error) {
	points := make([]store.Point, len(rows))
	batch := &Batch{MunicipalityID: site.MunicipalityID, SiteID: site.ID, Municipality: site.Municipality, Site: site.Name}
	seen := map[int64]int{} // device id → index in batch.Devices
	type rowDevice struct {
		name     []byte
		defClass string
		self     bool
	}
	devs := make([]rowDevice, len(rows))
	var refs []tenancy.DeviceRef
	for i := range rows {
		row := &rows[i]
		// The device a point is about: its host tag (Telegraf's and the
		// agent's own metrics), else its device tag (SNMP devices, checks),
		// else the site itself. Where both are present, the client's
		// device tag means something else (Telegraf's disk device) and is
		// kept as client_device.
		var device, host, class []byte
		for _, t := range row.Tags {
			switch string(t.Key) {
			case "device":
				device = t.Value
			case "host":
				host = t.Value
			case "class":
				class = t.Value
			}
		}
		kept := row.Tags[:0]
		for _, t := range row.Tags {
			switch string(t.Key) {
			case "device":
				if len(host) > 0 {
					kept = append(kept, metric.RawTag{Key: clientDeviceKey, Value: t.Value})
				}
				continue
			case "class", "municipality", "site":
				continue // never trusted from a client
			}
			kept = append(kept, t)
		}
		row.Tags = kept
		if len(host) > 0 && len(device) > 0 {
			metric.SortRawTags(row.Tags)
		}
		name := host
		defClass := "server" // a host agent (schulmon or Telegraf) reporting itself
		self := true
		if len(name) == 0 {
			name = device
			defClass = "other"
			self = len(device) == 0
		}
		if len(name) == 0 {
			name = []byte(site.Name)
		}
		if len(class) > 0 {
			defClass = string(class)
		}
		devs[i] = rowDevice{name: name, defClass: defClass, self: self}
		if i == 0 || string(name) != string(devs[i-1].name) {
			refs = append(refs, tenancy.DeviceRef{Name: string(name), Class: defClass})
		}
	}
	// New devices of this write are registered together, in one group
	// commit, instead of one after the other below.
	if r, ok := h.dir.(deviceRegistrar); ok {
		if err := r.RegisterDevices(ctx, site.ID, refs); err != nil {
			return nil, nil, err
		}
	}
	var lastName []byte
	var lastID int64
	var lastClass string
	for i := range rows {
		row := &rows[i]
		name, defClass, self := devs[i].name, devs[i].defClass, devs[i].self
		// Rows of one device usually come together: skip the map lookup.
		if lastName == nil || string(name) != string(lastName) {
			id, cls, err := h.dir.ResolveDevice(ctx, site.ID, string(name), defClass)
			if err != nil {
				return nil, nil, err
			}
			lastName, lastID, lastClass = name, id, cls
		}
		points[i] = store.Point{SiteID: site.ID, DeviceID: lastID, Municipality: site.Municipality, Site: site.Name, Device: string(lastName), Class: lastClass, Row: row}
		t := time.Unix(0, row.Time)
		j, ok := seen[lastID]
		if ok {
			d := &batch.Devices[j]
			d.Points++
			if t.Before(d.First) {
				d.First = t
			}
			if t.After(d.Last) {
				d.Last = t
			}
		} else {
			j = len(batch.Devices)
			seen[lastID] = j
			batch.Devices = append(batch.Devices, DeviceSeen{DeviceID: lastID, Device: string(lastName), Class: lastClass, First: t, Last: t, Points: 1})
		}
		if self {
			d := &batch.Devices[j]
			d.Self = true
			// Rows of one gathering share a time: usually nothing to add.
			if n := len(d.Beats); n == 0 || d.Beats[n-1].Unix() != t.Unix() {
				d.Beats = append(d.Beats, t)
			}
		}
		if SignalMeasurements[string(row.Measurement)] {
			// The client's copies of these tags were removed above, so
			// appending and sorting once replaces SetTag's sort per tag.
			sp := row.Point()
			sp.Tags = append(sp.Tags,
				metric.Tag{Key: "municipality", Value: site.Municipality},
				metric.Tag{Key: "site", Value: site.Name},
				metric.Tag{Key: "device", Value: string(lastName)},
				metric.Tag{Key: "class", Value: lastClass})
			metric.SortTags(sp.Tags)
			batch.Signals = append(batch.Signals, sp)
		}
	}
	for i := range batch.Devices {
		batch.Devices[i].Beats = sortBeats(batch.Devices[i].Beats)
	}
	return points, batch, nil
}

// callDir records the directory calls of stamp.
type callDir struct {
	benchDir
	calls []string
}

func (d *callDir) ResolveDevice(ctx context.Context, siteID int64, name, class string) (int64, string, error) {
	d.calls = append(d.calls, fmt.Sprintf("resolve %d %q %q", siteID, name, class))
	return d.benchDir.ResolveDevice(ctx, siteID, name, class)
}

func (d *callDir) RegisterDevices(ctx context.Context, siteID int64, refs []tenancy.DeviceRef) error {
	d.calls = append(d.calls, fmt.Sprintf("register %d %q", siteID, refs))
	return d.benchDir.RegisterDevices(ctx, siteID, refs)
}

func stampBodies() map[string]string {
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	bodies := map[string]string{
		"agent round": string(loadgen.AppendRound(nil, loadgen.AgentTemplate("srv-00001", 50, 1), start, start, rng)),
		"self and beats": `cpu,host=srv1 usage_idle=90 1700000020000000000
snmp_if,device=sw1,ifIndex=1 ifOperStatus=1i 1700000020000000000
cpu,host=srv1 usage_idle=91 1700000000000000000
mem,host=srv1 used_percent=40 1700000000500000000
snmp_poll,device=srv1 reachable=true 1700000010000000000
disk,device=sda1,host=srv1 used_percent=60 1700000020000000000
temp value=21 1700000030000000000
`,
		"odd rows": `schulmon_agent,host=srv\ 1,class=Server,site=elsewhere,municipality=x version="a \"quoted\" one",uptime_s=1 1700000000000000000
snmp_poll,device=sw\,1,class=switch,agent_host=srv\ 1,target=10.0.0.1:161 reachable=true,error="",duration_s=0.5 1700000001000000000
snmp_trap,device=sw\,1,trap=coldStart message="cold start",n=3u 1700000001000000000
check,check=http,class=other status=0i,msg="ok" 1700000002000000000
snmp_poll,device=ap1,agent_host=srv\ 1 reachable=false 1700000001000000000
discovered_endpoint,device=sw\,1 mac="00:11:22:33:44:55",ip="10.0.0.9",port="Gi1/0/2" 1700000003000000000
snmp_lldp,device=ap1,local_port=p1,remote_sysname=sw\,1 remote_chassis_id="aa" 1700000003000000000
cpu,host=srv\ 1,device=x usage_idle=1 1699999999000000000
temp,host=srv\ 1 value=2 1700000000200000000
schulmon_agent uptime_s=5 1700000005000000000
snmp_poll,device=sw\,1 reachable=true,b=t 1700000004000000000
mem used=1i 1700000006000000000
`,
	}
	var many strings.Builder // more names than a scratch keeps
	for i := range 1500 {
		fmt.Fprintf(&many, "snmp_poll,device=d%d,class=c%d,k%d=v%d f%d=%di,reachable=true %d\n", i%7, i%3, i, i, i, i, 1700000000000000000+int64(i)*1e8)
	}
	bodies["many names"] = many.String()
	return bodies
}

// TestStampAsBefore: stamp with pooled, reused memory returns what it did
// before, makes the same directory calls, and gives every signal point
// tags and fields of its own (an observer appending to them cannot
// overwrite another point's).
func TestStampAsBefore(t *testing.T) {
	site := &tenancy.Site{ID: 7, Name: "gs-a", MunicipalityID: 3, Municipality: "Stadt-A"}
	bodies := stampBodies()
	names := make([]string, 0, len(bodies))
	for name := range bodies {
		names = append(names, name)
	}
	slices.Sort(names)
	sc := getStampScratch()
	for round := range 2 { // the second round reuses what the first left
		for _, name := range names {
			body := []byte(bodies[name])
			var pw, pg metric.Parser
			if err := pw.Parse(body, metric.PrecisionNS, 1700000000000000000); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := pg.Parse(body, metric.PrecisionNS, 1700000000000000000); err != nil {
				t.Fatal(err)
			}
			dw := &callDir{benchDir: benchDir{devices: map[benchDevKey]benchDevice{}}}
			dg := &callDir{benchDir: benchDir{devices: map[benchDevKey]benchDevice{}}}
			wantPts, want, err := (&Handler{dir: dw}).stampReference(context.Background(), site, pw.Rows)
			if err != nil {
				t.Fatal(err)
			}
			gotPts, got, err := (&Handler{dir: dg}).stamp(context.Background(), site, pg.Rows, sc)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dg.calls, dw.calls) {
				t.Errorf("round %d, %s: directory calls\n%s\nwant\n%s", round, name, strings.Join(dg.calls, "\n"), strings.Join(dw.calls, "\n"))
			}
			if !reflect.DeepEqual(gotPts, wantPts) {
				for i := range max(len(gotPts), len(wantPts)) {
					if i >= len(gotPts) || i >= len(wantPts) || !reflect.DeepEqual(gotPts[i], wantPts[i]) {
						t.Fatalf("round %d, %s: point %d differs:\n%+v\nwant\n%+v", round, name, i, pointAt(gotPts, i), pointAt(wantPts, i))
					}
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, %s: batch\n%+v\nwant\n%+v", round, name, got, want)
			}
			for i, p := range got.Signals {
				if cap(p.Tags) != len(p.Tags) || cap(p.Fields) != len(p.Fields) {
					t.Fatalf("round %d, %s: signal %d has room to append into another's tags or fields", round, name, i)
				}
			}
			sc.release()
			sc = getStampScratch()
		}
	}
	sc.release()
}

func pointAt(pts []store.Point, i int) any {
	if i >= len(pts) {
		return nil
	}
	p := pts[i]
	return struct {
		P   store.Point
		Row metric.Row
	}{p, *p.Row}
}
