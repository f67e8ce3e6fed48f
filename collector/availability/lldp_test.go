package availability

import (
	"fmt"
	"testing"

	"github.com/schulmon/schulmon/collector/tenancy"
)

func TestLLDPParentsRules(t *testing.T) {
	dev := func(name, class string) tenancy.Device { return tenancy.Device{Name: name, Class: class} }
	nb := func(dev, remote string) LLDPNeighbour { return LLDPNeighbour{Device: dev, Remote: remote} }
	for _, tc := range []struct {
		name string
		devs []tenancy.Device
		nbrs []LLDPNeighbour
		want map[string]string
	}{{
		name: "from the router outwards, through switches only",
		devs: []tenancy.Device{dev("gw", "router"), dev("core", "switch"), dev("acc", "switch"), dev("srv", "server"), dev("ap", "access_point")},
		nbrs: []LLDPNeighbour{nb("core", "GW.example.org"), nb("acc", "core"), nb("core", "acc"), nb("acc", "ap"), nb("ap", "acc"), nb("core", "srv")},
		want: map[string]string{"core": "gw", "acc": "core", "ap": "acc", "srv": "core"},
	}, {
		name: "without a router: lower rank is the parent, two switches stay open",
		devs: []tenancy.Device{dev("sw1", "switch"), dev("sw2", "switch"), dev("printer", "printer")},
		nbrs: []LLDPNeighbour{nb("sw1", "sw2"), nb("sw2", "sw1"), nb("sw2", "printer")},
		want: map[string]string{"printer": "sw2"},
	}, {
		name: "a device seen on two switches of the same rank gets none",
		devs: []tenancy.Device{dev("sw1", "switch"), dev("sw2", "switch"), dev("srv", "server")},
		nbrs: []LLDPNeighbour{nb("sw1", "srv"), nb("sw2", "srv")},
		want: map[string]string{},
	}, {
		name: "unknown and ambiguous names are ignored",
		devs: []tenancy.Device{dev("sw1", "switch"), dev("pc.a.local", "endpoint"), dev("pc.b.local", "endpoint")},
		nbrs: []LLDPNeighbour{nb("sw1", "pc"), nb("sw1", "elsewhere"), nb("sw1", "sw1")},
		want: map[string]string{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LLDPParents(tc.devs, tc.nbrs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("parents %v, want %v", got, tc.want)
			}
		})
	}
}
