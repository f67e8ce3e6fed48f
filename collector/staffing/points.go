package staffing

import (
	"time"

	"github.com/schulmon/schulmon/metric"
)

// Measurement is the name of the points Points returns.
const Measurement = "staffing"

// Points turns a report into points of the measurement "staffing" for
// dashboards: one per level (site, municipality, total) and method, tags
// level, municipality, site, method; fields fte, fte_contract,
// person_days, person_days_contract, cost_eur, cost_contract_eur,
// contracted_person_days, gap_person_days, devices, endpoints.
func (r *Report) Points(t time.Time) []metric.Point {
	pts := make([]metric.Point, 0, (len(r.Sites)+len(r.Municipalities)+1)*len(r.Methods))
	add := func(level, mun, site string, d *DeviceCounts, contracted float64, figs []Figure) {
		for i := range figs {
			f := &figs[i]
			tags := []metric.Tag{{Key: "level", Value: level}, {Key: "method", Value: f.Method}}
			if mun != "" {
				tags = append(tags, metric.Tag{Key: "municipality", Value: mun})
			}
			if site != "" {
				tags = append(tags, metric.Tag{Key: "site", Value: site})
			}
			metric.SortTags(tags)
			pts = append(pts, metric.Point{Measurement: Measurement, Tags: tags, Time: t, Fields: []metric.Field{
				{Key: "contracted_person_days", Value: metric.Float(contracted)},
				{Key: "cost_contract_eur", Value: metric.Float(f.CostContractEUR)},
				{Key: "cost_eur", Value: metric.Float(f.CostEUR)},
				{Key: "devices", Value: metric.Int(int64(d.Total()))},
				{Key: "endpoints", Value: metric.Int(int64(d[ClassEndpoint]))},
				{Key: "fte", Value: metric.Float(f.FTE)},
				{Key: "fte_contract", Value: metric.Float(f.FTEContract)},
				{Key: "gap_person_days", Value: metric.Float(f.GapPersonDays)},
				{Key: "market_max_eur", Value: metric.Float(f.MarketMaxEUR)},
				{Key: "market_min_eur", Value: metric.Float(f.MarketMinEUR)},
				{Key: "person_days", Value: metric.Float(f.PersonDays)},
				{Key: "person_days_contract", Value: metric.Float(f.PersonDaysContract)},
			}})
		}
	}
	add("total", "", "", &r.Total.Devices, r.Total.ContractedPersonDays, r.Total.Figures)
	for i := range r.Municipalities {
		g := &r.Municipalities[i]
		add("municipality", g.Municipality, "", &g.Devices, g.ContractedPersonDays, g.Figures)
	}
	for i := range r.Sites {
		s := &r.Sites[i]
		add("site", s.Municipality, s.Name, &s.Devices, s.ContractedPersonDays, s.Figures)
	}
	return pts
}
