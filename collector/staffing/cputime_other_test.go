//go:build !unix

package staffing

import "time"

func processCPU() time.Duration { return 0 }
