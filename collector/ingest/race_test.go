//go:build race

package ingest

// raceEnabled: the race detector makes sync.Pool drop items at random,
// so counts of allocations with pooled memory mean nothing.
const raceEnabled = true
