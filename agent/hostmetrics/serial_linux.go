package hostmetrics

import (
	"os"
	"strings"
)

// readSerial reads the SMBIOS system serial. The file is readable by root
// only on most distributions and missing in containers and many VMs; then
// the host is identified by its MACs alone.
func readSerial() string {
	b, err := os.ReadFile("/sys/class/dmi/id/product_serial")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
