package hostmetrics

import (
	"context"
	"net"
	"slices"
	"testing"

	psnet "github.com/shirou/gopsutil/v3/net"
)

func TestIdentityMACsSkipsLoopbackVirtualDownAndZero(t *testing.T) {
	up := []string{"up", "broadcast", "multicast"}
	ifs := []psnet.InterfaceStat{
		{Name: "lo", HardwareAddr: "", Flags: []string{"up", "loopback"}},
		{Name: "eno1", HardwareAddr: "3C:EC:EF:01:02:03", Flags: up},
		{Name: "bond0", HardwareAddr: "3c:ec:ef:01:02:03", Flags: up},                     // same MAC as its slave
		{Name: "enp2s0", HardwareAddr: "3c:ec:ef:01:02:04", Flags: []string{"broadcast"}}, // down
		{Name: "docker0", HardwareAddr: "02:42:ac:11:00:01", Flags: up},
		{Name: "veth12ab", HardwareAddr: "aa:bb:cc:00:11:22", Flags: up},
		{Name: "vboxnet0", HardwareAddr: "0a:00:27:00:00:00", Flags: up}, // identical on every host
		{Name: "eth1", HardwareAddr: "00:00:00:00:00:00", Flags: up},
		{Name: "ib0", HardwareAddr: "80:00:02:08:fe:80:00:00:00:00:00:00:00:00:00:00:00:00:00:01", Flags: up},
		{Name: "br0", HardwareAddr: "52:54:00:aa:bb:cc", Flags: up}, // a KVM host's address lives here
	}
	got := identityMACs(ifs)
	want := []string{"3c:ec:ef:01:02:03", "52:54:00:aa:bb:cc"}
	if !slices.Equal(got, want) {
		t.Fatalf("identityMACs = %v, want %v", got, want)
	}
}

func TestReadIdentityOnThisHost(t *testing.T) {
	id, err := ReadIdentity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Compare with the standard library's view of the same interfaces.
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var eligible []string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagLoopback == 0 && len(ifc.HardwareAddr) == 6 {
			eligible = append(eligible, ifc.HardwareAddr.String())
		}
	}
	for _, m := range id.MACs {
		if !slices.Contains(eligible, m) {
			t.Errorf("reported MAC %s is not an up, non-loopback interface of this host (%v)", m, eligible)
		}
	}
	t.Logf("identity of this host: %+v", id)
}
