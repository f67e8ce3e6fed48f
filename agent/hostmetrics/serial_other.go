//go:build !linux

package hostmetrics

// readSerial: gopsutil offers no hardware serial on Windows and macOS, and
// the agent adds no WMI or IOKit dependency for it; such hosts are
// identified by their MACs (and the CSV import can name the serial).
func readSerial() string { return "" }
