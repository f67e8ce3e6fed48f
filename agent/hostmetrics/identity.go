package hostmetrics

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	psnet "github.com/shirou/gopsutil/v3/net"
)

// Identity is what lets the collector recognise this host in other
// sources' tables: the MAC addresses a switch's ARP/bridge table shows and
// the serial number an inventory list names. The collector deduplicates
// the staffing inventory by them (collector/staffing).
type Identity struct {
	MACs   []string // lower-case, colon-separated, sorted, no duplicates
	Serial string   // DMI/SMBIOS serial; empty where it cannot be read
}

// maxIdentityMACs bounds the heartbeat field on hosts with many
// interfaces; the physical NICs sort among the first anyway.
const maxIdentityMACs = 16

// ReadIdentity reads the host's interface MACs (gopsutil) and, where the
// platform allows, its hardware serial. A serial that cannot be read (on
// Linux the DMI file is often root-only) is left empty, not an error.
func ReadIdentity(ctx context.Context) (Identity, error) {
	var id Identity
	ifs, err := psnet.InterfacesWithContext(ctx)
	if err != nil {
		return id, fmt.Errorf("list network interfaces for the host identity: %w", err)
	}
	id.MACs = identityMACs(ifs)
	id.Serial = readSerial()
	return id, nil
}

// virtualPrefixes name interfaces whose MACs are made up per host or, worse,
// the same on every host (VirtualBox host-only adapters): reporting them
// could merge two different machines into one device.
var virtualPrefixes = []string{
	"veth", "docker", "br-", "virbr", "vboxnet", "vmnet", "vnet", "tun", "tap", "ifb",
	"dummy", "cni", "flannel", "cali", "vxlan", "kube", "lxc", "lxd", "wg", "zt",
	"tailscale", "utun", "awdl", "llw", "bridge", "anpi", "ap1",
	"vethernet", "virtualbox", "vmware", "hyper-v", "isatap", "teredo", "loopback",
}

// identityMACs picks the MACs worth reporting: up, not loopback, a real
// 6-byte address that is not all zeros, on an interface that does not look
// virtual.
func identityMACs(ifs []psnet.InterfaceStat) []string {
	var out []string
	for _, ifc := range ifs {
		if !slices.Contains(ifc.Flags, "up") || slices.Contains(ifc.Flags, "loopback") {
			continue
		}
		name := strings.ToLower(ifc.Name)
		virtual := false
		for _, p := range virtualPrefixes {
			if strings.HasPrefix(name, p) {
				virtual = true
				break
			}
		}
		if virtual {
			continue
		}
		hw, err := net.ParseMAC(ifc.HardwareAddr)
		if err != nil || len(hw) != 6 || isZero(hw) {
			continue
		}
		out = append(out, hw.String())
	}
	slices.Sort(out)
	out = slices.Compact(out) // bonded NICs share one MAC
	if len(out) > maxIdentityMACs {
		out = out[:maxIdentityMACs]
	}
	return out
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
