//go:build !linux

package memtrim

import "runtime/debug"

// Trim returns freed heap to the system; other systems keep their pages.
func Trim() Result {
	debug.FreeOSMemory()
	return Result{}
}
