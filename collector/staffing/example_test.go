package staffing_test

import (
	"context"
	"fmt"

	"github.com/schulmon/schulmon/collector/staffing"
)

// Size a municipality with one Gymnasium (1,201 end devices, seen in the
// switches' ARP tables) and one Grundschule (120 tablets from a CSV) by
// the KRZN ratio and by school type.
func ExampleCompute() {
	b := staffing.NewInventoryBuilder()
	gym := b.AddSite(staffing.Site{ID: 1, Municipality: "Moers", Name: "Gymnasium Adolfinum", Type: staffing.TypeSecondary, ContractedPersonDays: 400})
	gs := b.AddSite(staffing.Site{ID: 2, Municipality: "Moers", Name: "GS Nord", Type: staffing.TypePrimary})
	b.AddCount(gym, staffing.ClassEndpoint, staffing.SourceDiscovery, 1201)
	b.AddCount(gs, staffing.ClassEndpoint, staffing.SourceCSV, 120)
	inv := b.Build()

	for _, method := range []string{staffing.MethodDeviceRatio, staffing.MethodSchoolType} {
		r, err := staffing.Compute(context.Background(), inv, nil, staffing.DefaultParams(), staffing.Options{Method: method})
		if err != nil {
			fmt.Println(err)
			return
		}
		f := r.Total.Figures[0]
		fmt.Printf("%s: %.3f FTE, %.1f contracted, %.0f person-days, %.0f EUR, gap %+.0f days\n",
			method, f.FTE, f.FTEContract, f.PersonDaysContract, f.CostContractEUR, f.GapPersonDays)
	}
	// Output:
	// device_ratio: 3.302 FTE, 3.5 contracted, 700 person-days, 332500 EUR, gap +260 days
	// school_type: 0.830 FTE, 1.0 contracted, 200 person-days, 95000 EUR, gap -234 days
}
