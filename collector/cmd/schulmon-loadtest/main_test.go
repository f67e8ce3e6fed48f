package main

import (
	"testing"
	"time"
)

// TestWindowAt: requests land in the window of their send time, one
// interval wide, with the windows in between created empty.
func TestWindowAt(t *testing.T) {
	var ws []windowAcc
	windowAt(&ws, 25*time.Second, 10*time.Second).lat = append(windowAt(&ws, 25*time.Second, 10*time.Second).lat, 5)
	windowAt(&ws, 0, 10*time.Second).rejected++
	windowAt(&ws, -time.Millisecond, 10*time.Second).rejected++ // clock skew: the first window
	windowAt(&ws, 29999*time.Millisecond, 10*time.Second).points += 50
	if len(ws) != 3 || ws[0].rejected != 2 || len(ws[1].lat) != 0 || len(ws[2].lat) != 1 || ws[2].points != 50 {
		t.Fatalf("windows %+v", ws)
	}
}
