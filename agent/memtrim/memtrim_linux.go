package memtrim

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Trim advises the kernel to reclaim the binary's resident code and
// read-only data pages (MADV_PAGEOUT) and to fault them back in singly
// (MADV_RANDOM, no read-around), then returns freed heap to the system.
func Trim() Result {
	exe, err := os.Executable()
	if err != nil {
		return Result{}
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return Result{}
	}
	defer f.Close()
	res := Result{Supported: true}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue // only the binary's read-only mappings (text, rodata)
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// The mapping is not Go memory, so madvise is called on the raw
		// address range rather than through a slice.
		for _, advice := range []int{unix.MADV_RANDOM, unix.MADV_PAGEOUT} {
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), uintptr(advice))
		}
		res.MappedBytes += int64(end - start)
	}
	debug.FreeOSMemory()
	return res
}
