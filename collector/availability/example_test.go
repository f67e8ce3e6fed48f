package availability_test

import (
	"fmt"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
)

// The error budget of a period is (1 − target) × service time.
func ExampleParsePeriod() {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, p := range []string{"2026", "2028", "2026-11", "2026-10", "2026-Q1"} {
		w, _ := availability.ParsePeriod(p, berlin, time.Time{})
		ms := w.To.Sub(w.From).Milliseconds()
		budget := ms * (1_000_000 - 999_800) / 1_000_000 // exact: whole ms × ppm
		fmt.Printf("%-7s %6d min, budget at 99.98 %%: %d ms = %d min %.1f s\n", p, ms/60000, budget, budget/60000, float64(budget%60000)/1000)
	}
	// Output:
	// 2026    525600 min, budget at 99.98 %: 6307200 ms = 105 min 7.2 s
	// 2028    527040 min, budget at 99.98 %: 6324480 ms = 105 min 24.5 s
	// 2026-11  43200 min, budget at 99.98 %: 518400 ms = 8 min 38.4 s
	// 2026-10  44700 min, budget at 99.98 %: 536400 ms = 8 min 56.4 s
	// 2026-Q1 129540 min, budget at 99.98 %: 1554480 ms = 25 min 54.5 s
}

func ExampleParseTarget() {
	t, _ := availability.ParseTarget("99.98 %")
	fmt.Println(int64(t), "ppm =", t.Percent(), "%")
	// Output: 999800 ppm = 99.98 %
}
