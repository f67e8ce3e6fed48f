// Package memtrim returns the agent's start-up-only memory to the kernel.
// A Go binary's code and read-only data are file-backed pages that count
// in RSS once touched; package initialisation (gRPC, protobuf, CLI) and
// the kernel's fault-around touch far more of them than the agent's
// steady loop ever uses again. Trim tells the kernel so, once, after
// start-up; pages the agent needs later fault back in from the page cache.
package memtrim

// Result says what Trim did, for the log.
type Result struct {
	MappedBytes int64 // file-backed executable mappings considered
	Supported   bool
}
