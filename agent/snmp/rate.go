package snmp

import "time"

// Counter rates must survive two things that make a counter go down:
// a wrap (a 32-bit octet counter on a busy gigabit port wraps every 34 s)
// and a reset (the device rebooted, or an interface was re-created). A
// wrap is only believed for 32-bit counters and only when the rate it
// implies is possible on the interface; anything else is a reset, and a
// reset yields no rate for that interval instead of a huge spike.

// counterDelta returns how much a counter advanced from prev to cur.
// bits is 32 or 64; maxDelta (0 = unknown) is the largest plausible
// increase, e.g. interface speed × interval; ok is false for a reset.
func counterDelta(prev, cur uint64, bits int, maxDelta float64) (delta uint64, ok bool) {
	if cur >= prev {
		delta = cur - prev
	} else {
		if bits != 32 {
			// A 64-bit counter at 100 Gbit/s wraps after 46 years: a
			// decrease is a reset.
			return 0, false
		}
		delta = cur + (1 << 32) - prev
	}
	if maxDelta > 0 && float64(delta) > maxDelta {
		// Too large for the interface: a reset with luckily larger
		// value, or a wrap that cannot have happened.
		return 0, false
	}
	return delta, true
}

// uptimeReboot tells a reboot from sysUpTime (hundredths of a second)
// of two polls elapsed wall-clock time apart. sysUpTime is a 32-bit
// TimeTicks that itself wraps after 497 days; a decrease right after
// that wrap is not a reboot.
func uptimeReboot(prev, cur uint64, elapsed time.Duration) bool {
	if cur >= prev {
		// Without a reboot uptime advances with wall time. If it advanced
		// clearly less, the device restarted after the previous poll and
		// has already been up longer than it had been then.
		adv := time.Duration(cur-prev) * 10 * time.Millisecond
		tol := 10*time.Second + elapsed/20
		return adv+tol < elapsed
	}
	wrapped := prev+uint64(elapsed/(10*time.Millisecond))+100*60 >= 1<<32
	return !wrapped
}

// ifCounters is the state of one interface between polls.
type ifCounters struct {
	t             time.Time
	in, out       uint64
	bits          int
	discontinuity uint64 // ifCounterDiscontinuityTime
	valid         bool   // in/out hold a sample
	// ifLastChange (TimeTicks) as of this sample.
	lastChange     uint64
	haveLastChange bool
}

// ifRates computes in/out bits per second between two samples. speedBps
// (0 = unknown) bounds plausible deltas.
func ifRates(prev, cur ifCounters, speedBps float64) (inBps, outBps float64, ok bool) {
	if !prev.valid || !cur.valid || prev.bits != cur.bits || cur.discontinuity != prev.discontinuity {
		return 0, 0, false
	}
	dt := cur.t.Sub(prev.t).Seconds()
	if dt <= 0 {
		return 0, 0, false
	}
	maxDelta := 0.0
	if speedBps > 0 {
		// 10 % headroom for timing jitter between the two samples.
		maxDelta = speedBps / 8 * dt * 1.1
	}
	din, ok1 := counterDelta(prev.in, cur.in, cur.bits, maxDelta)
	dout, ok2 := counterDelta(prev.out, cur.out, cur.bits, maxDelta)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return float64(din) * 8 / dt, float64(dout) * 8 / dt, true
}
