//go:build !unix

package availability

import "time"

func cpuTime() time.Duration { return 0 }
