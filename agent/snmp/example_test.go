package snmp_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/schulmon/schulmon/agent/snmp"
	"github.com/schulmon/schulmon/metric"
)

type printSink struct{}

func (printSink) Add(pts ...metric.Point) {
	for i := range pts {
		os.Stdout.Write(metric.AppendLine(nil, &pts[i]))
	}
}

// Polling devices from Go, as the collector can for devices at the data
// centre: build a Poller from a Config, then poll once (PollAll) or keep
// polling at each target's interval (Run).
func Example() {
	p, err := snmp.New(snmp.Config{
		MaxConcurrency: 32,
		Targets: []snmp.Target{
			{Name: "rz-core-sw01", Address: "udp://10.1.0.2:161", Credentials: snmp.Credentials{Community: "rz-read"}},
			{Address: "10.1.0.10", Class: "ups", Interval: 5 * time.Minute},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p.PollAll(ctx, printSink{}) // or: go p.Run(ctx, sink)
}

func ExampleConfig_Validate() {
	cfg := snmp.Config{Targets: []snmp.Target{{Name: "sw1", Address: "10.0.0.1", Profiles: []string{"ifmib"}}}}
	fmt.Println(cfg.Validate())
	// Output: snmp.targets[0] (sw1): unknown profile "ifmib" (built in: endpoints, host, interfaces, lldp, poe, printer, sensors, system, ups; or define it under snmp.custom)
}
