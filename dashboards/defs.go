package dashboards

// All returns schulmon's dashboards.
func All() []Dashboard {
	return []Dashboard{fleet(), school(), network(), availability(), staffing(), agents()}
}

var (
	mts    = []string{"municipality", "site"}
	mtsd   = []string{"municipality", "site", "device"}
	pct100 = 100.0
	zero   = 0.0
)

func f(v float64) *float64 { return &v }
func i(v int) *int         { return &v }

func base(uid, title, desc string, tv Templating, testVars map[string]string, panels ...Panel) Dashboard {
	return Dashboard{
		UID: uid, Title: title, Description: desc, Tags: []string{"schulmon"}, Timezone: "browser",
		SchemaVersion: 39, Version: 1, Editable: true, GraphTooltip: 1, Refresh: "1m",
		Time:       TimeRange{From: "now-24h", To: "now"},
		Templating: tv,
		Links:      []Link{{Title: "schulmon", Type: "dashboards", Tags: []string{"schulmon"}, AsDropdown: true, IncludeVars: true, KeepTime: true}},
		Panels:     Layout(panels),
		TestVars:   testVars,
	}
}

func unit(u string) FieldConfig { return FieldConfig{Defaults: FieldDefaults{Unit: u}} }

// availabilityColours: red below the 99.98 % target, green at or above.
func availabilityColours() FieldConfig {
	return FieldConfig{Defaults: FieldDefaults{Unit: "percent", Decimals: i(3), Max: &pct100,
		Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "red"}, {Color: "orange", Value: f(99.9)}, {Color: "green", Value: f(99.98)}}}}}
}

func budgetColours() FieldConfig {
	return FieldConfig{Defaults: FieldDefaults{Unit: "percent", Decimals: i(1), Min: &zero, Max: &pct100,
		Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "red"}, {Color: "orange", Value: f(25)}, {Color: "green", Value: f(50)}}}}}
}

func stateMappings() FieldConfig {
	return FieldConfig{Defaults: FieldDefaults{Mappings: []ValueMapping{{Type: "value", Options: map[string]MappingValue{
		"up": {Text: "up", Color: "green", Index: 0}, "down": {Text: "down", Color: "red", Index: 1},
		"unreachable": {Text: "unreachable", Color: "orange", Index: 2}, "unknown": {Text: "unknown", Color: "gray", Index: 3},
		"maintenance": {Text: "maintenance", Color: "blue", Index: 4},
	}}}}}
}

func fleet() Dashboard {
	return base("schulmon-fleet", "schulmon · Fleet overview",
		"Status of every municipality and school, availability this month against the target, and the error budget left.",
		vars("municipality", "site"), map[string]string{"municipality": "Musterstadt", "site": "GS Nord"},
		Panel{Type: "stat", Title: "Objects down now", W: 6,
			Targets: []Target{q{meas: "availability_state", fields: []string{"down"}, vars: mts,
				pipe: []string{stLast, stUngroup, "sum()"}}.target("1")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "green"}, {Color: "red", Value: f(1)}}}}}},
		Panel{Type: "stat", Title: "Agents reporting (last value in range)", W: 6,
			Targets: []Target{q{meas: "schulmon_agent", fields: []string{"uptime_s"}, vars: mts,
				pipe: []string{stLast, stUngroup, "count()"}}.target("_value:1")}},
		Panel{Type: "table", Title: "Objects down per site",
			Targets: []Target{q{meas: "availability_state", fields: []string{"down"}, vars: mts,
				pipe: []string{stLast, stGroup("municipality", "site"), "sum()", stUngroup}}.target("GS Nord")}},
		Panel{Type: "table", Title: "Availability this month per site against target",
			Targets: []Target{q{meas: "availability_monthly", fields: []string{"availability_pct", "target_pct", "budget_remaining_pct"}, vars: mts,
				where: `r.level == "site"`,
				pipe:  []string{stLast, stPivot("municipality", "site"), stUngroup, stKeep("municipality", "site", "availability_pct", "target_pct", "budget_remaining_pct")}}.target("99.5", "99.98")},
			FieldConfig: availabilityColours()},
		Panel{Type: "bargauge", Title: "Error budget left this month per municipality",
			Targets: []Target{q{meas: "availability_monthly", fields: []string{"budget_remaining_pct"}, vars: []string{"municipality"},
				where: `r.level == "municipality"`,
				pipe:  []string{stLast, stGroup("municipality")}}.target("Musterstadt", "_value:-233")},
			FieldConfig: budgetColours(), Options: map[string]any{"displayMode": "gradient", "orientation": "horizontal"}},
		Panel{Type: "timeseries", Title: "Daily availability per municipality",
			Targets: []Target{q{meas: "availability_daily", fields: []string{"availability_pct"}, vars: []string{"municipality"},
				where: `r.level == "municipality"`, pipe: []string{stGroup("municipality")}}.target("Musterstadt", "_value:99.9")},
			FieldConfig: availabilityColours()},
	)
}

func school() Dashboard {
	return base("schulmon-school", "schulmon · School detail",
		"One school: its devices and their state, and the host metrics of its servers.",
		vars("municipality", "site", "device"), map[string]string{"municipality": "Musterstadt", "site": "GS Nord", "device": "srv1"},
		Panel{Type: "table", Title: "Devices and status", W: 24,
			Targets: []Target{q{meas: "availability_state", fields: []string{"state", "since_s"}, vars: mtsd,
				pipe: []string{stLast, stPivot("site", "device", "class"), stUngroup, stKeep("site", "device", "class", "state", "since_s")}}.target("srv1", "up")},
			FieldConfig: stateMappings()},
		Panel{Type: "timeseries", Title: "CPU used",
			Targets: []Target{q{meas: "cpu", fields: []string{"usage_idle"}, vars: mtsd, where: `r.cpu == "cpu-total"`,
				pipe: []string{stWindowMean, "map(fn: (r) => ({r with _value: 100.0 - r._value}))", stGroup("device")}}.target("srv1", "_value:20")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: &zero, Max: &pct100}}},
		Panel{Type: "timeseries", Title: "Memory used",
			Targets: []Target{q{meas: "mem", fields: []string{"used_percent"}, vars: mtsd,
				pipe: []string{stWindowMean, stGroup("device")}}.target("srv1", "_value:40")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: &zero, Max: &pct100}}},
		Panel{Type: "bargauge", Title: "Disk used per mount",
			Targets: []Target{q{meas: "disk", fields: []string{"used_percent"}, vars: mtsd,
				pipe: []string{stLast, stGroup("device", "path")}}.target("path:/", "_value:81")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: &zero, Max: &pct100,
				Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "green"}, {Color: "orange", Value: f(80)}, {Color: "red", Value: f(90)}}}}},
			Options: map[string]any{"displayMode": "gradient", "orientation": "horizontal"}},
		Panel{Type: "timeseries", Title: "Load (1 min)",
			Targets: []Target{q{meas: "system", fields: []string{"load1"}, vars: mtsd,
				pipe: []string{stWindowMean, stGroup("device")}}.target("srv1", "_value:0.5")}},
		Panel{Type: "table", Title: "Checks",
			Targets: []Target{q{meas: "check", fields: []string{"status", "message"}, vars: mtsd,
				pipe: []string{stLast, stPivot("device", "check"), stUngroup, stKeep("device", "check", "status", "message")}}.target("https")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Mappings: []ValueMapping{{Type: "value", Options: map[string]MappingValue{
				"0": {Text: "OK", Color: "green", Index: 0}, "1": {Text: "WARNING", Color: "orange", Index: 1},
				"2": {Text: "CRITICAL", Color: "red", Index: 2}, "3": {Text: "UNKNOWN", Color: "gray", Index: 3}}}}}}},
	)
}

func network() Dashboard {
	return base("schulmon-network", "schulmon · Network",
		"Switch ports (traffic, errors, status), PoE and access points, from the agents' SNMP polls.",
		vars("municipality", "site", "device"), map[string]string{"municipality": "Musterstadt", "site": "GS Nord", "device": "sw1"},
		Panel{Type: "timeseries", Title: "Traffic per port",
			Targets: []Target{q{meas: "snmp_if", fields: []string{"in_bps", "out_bps"}, vars: mtsd,
				pipe: []string{stWindowMean, stGroup("device", "ifName", "_field")}}.target("Gi1/0/1")},
			FieldConfig: unit("bps")},
		Panel{Type: "timeseries", Title: "Port errors and discards per minute",
			Targets: []Target{q{meas: "snmp_if", fields: []string{"ifInErrors", "ifOutErrors", "ifInDiscards", "ifOutDiscards"}, vars: mtsd,
				pipe: []string{"derivative(unit: 1m, nonNegative: true)", stWindowMax, stGroup("device", "ifName", "_field")}}.target("Gi1/0/1", "ifInErrors")},
			FieldConfig: unit("short")},
		Panel{Type: "table", Title: "Port status",
			Targets: []Target{q{meas: "snmp_if", fields: []string{"ifOperStatus", "ifAdminStatus", "ifHighSpeed", "in_util_pct", "out_util_pct"}, vars: mtsd,
				pipe: []string{stLast, stPivot("device", "ifName"), stUngroup, stKeep("device", "ifName", "ifOperStatus", "ifAdminStatus", "ifHighSpeed", "in_util_pct", "out_util_pct")}}.target("Gi1/0/2")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{}, Overrides: []Override{{Matcher: Matcher{ID: "byRegexp", Options: "if(Oper|Admin)Status"},
				Properties: []Property{{ID: "mappings", Value: []ValueMapping{{Type: "value", Options: map[string]MappingValue{
					"1": {Text: "up", Color: "green", Index: 0}, "2": {Text: "down", Color: "red", Index: 1}, "7": {Text: "lowerLayerDown", Color: "orange", Index: 2}}}}}}}}}},
		Panel{Type: "timeseries", Title: "PoE power drawn and budget",
			Targets: []Target{q{meas: "snmp_poe", fields: []string{"power_consumption_w", "power_budget_w"}, vars: mtsd,
				pipe: []string{stWindowMean, stGroup("device", "pse", "_field")}}.target("pse:1", "power_budget_w", "_value:370")},
			FieldConfig: unit("watt")},
		Panel{Type: "bargauge", Title: "PoE ports delivering power",
			Targets: []Target{q{meas: "snmp_poe_port", fields: []string{"delivering"}, vars: mtsd,
				pipe: []string{stLast, "map(fn: (r) => ({r with _value: if r._value then 1 else 0}))", stGroup("device"), "sum()"}}.target("sw1", "_value:1")}},
		Panel{Type: "table", Title: "Access points",
			Targets: []Target{q{meas: "snmp_poll", fields: []string{"reachable", "duration_s", "sys_uptime_s"}, vars: []string{"municipality", "site"},
				where: `r.class == "access_point"`,
				pipe:  []string{stLast, stPivot("site", "device"), stUngroup, stKeep("site", "device", "reachable", "duration_s", "sys_uptime_s")}}.target("ap1")}},
	)
}

func availability() Dashboard {
	cols := []string{"availability_pct", "target_pct", "down_min", "budget_remaining_min", "outages"}
	return base("schulmon-availability", "schulmon · Availability and outages",
		"Availability per object and group per month against the target, the error budget burn, and the outages.",
		vars("municipality", "site", "device"), map[string]string{"municipality": "Musterstadt", "site": "GS Nord", "device": "srv1"},
		Panel{Type: "table", Title: "Per object, this month",
			Targets: []Target{q{meas: "availability_monthly", fields: cols, vars: mtsd, where: `r.level == "object"`,
				pipe: []string{stLast, stPivot("site", "device", "class"), stUngroup, stKeep(append([]string{"site", "device", "class"}, cols...)...)}}.target("srv1", "99.5")},
			FieldConfig: availabilityColours()},
		Panel{Type: "table", Title: "Per site and municipality, this month",
			Description: "Time-weighted: sum(up) ÷ (sum(up) + sum(down)) of the members.",
			Targets: []Target{
				q{meas: "availability_monthly", fields: cols, vars: mts, where: `r.level == "site"`,
					pipe: []string{stLast, stPivot("level", "municipality", "site"), stUngroup, stKeep(append([]string{"level", "municipality", "site"}, cols...)...)}}.target("GS Nord"),
				q{meas: "availability_monthly", fields: cols, vars: []string{"municipality"}, where: `r.level == "municipality"`,
					pipe: []string{stLast, stPivot("level", "municipality"), stUngroup, stKeep(append([]string{"level", "municipality"}, cols...)...)}}.target("Musterstadt"),
			},
			Transformations: []Transformation{{ID: "merge", Options: map[string]any{}}},
			FieldConfig:     availabilityColours()},
		Panel{Type: "timeseries", Title: "Monthly availability per site",
			Targets: []Target{q{meas: "availability_monthly", fields: []string{"availability_pct"}, vars: mts, where: `r.level == "site"`,
				pipe: []string{stGroup("site")}}.target("GS Nord", "_value:99.5")},
			FieldConfig: availabilityColours()},
		Panel{Type: "timeseries", Title: "Error budget used this month (cumulative, per site)",
			Targets: []Target{q{meas: "availability_daily", fields: []string{"budget_used_min", "budget_allowed_min"}, vars: mts, where: `r.level == "site"`,
				pipe: []string{stGroup("site", "_field"), "cumulativeSum()"}}.target("budget_used_min", "_value:3")},
			FieldConfig: unit("m")},
		Panel{Type: "table", Title: "Outages", W: 24,
			Targets: []Target{q{meas: "outage", fields: []string{"duration_s", "ongoing"}, vars: mtsd,
				pipe: []string{stPivot("_time", "site", "device", "cause"), stUngroup, stKeep("_time", "site", "device", "cause", "duration_s", "ongoing"), `sort(columns: ["_time"], desc: true)`}}.target("heartbeat_lost", "device:srv1", "duration_s:180", "ongoing:false")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{}, Overrides: []Override{{Matcher: Matcher{ID: "byName", Options: "duration_s"}, Properties: []Property{{ID: "unit", Value: "s"}}}}}},
	)
}

func staffing() Dashboard {
	cols := []string{"fte", "person_days", "cost_eur", "contracted_person_days", "gap_person_days"}
	return base("schulmon-staffing", "schulmon · Staffing",
		"On-site administrator demand under each published sizing method: FTE, person-days, cost and the gap to the contracted person-days.",
		vars("municipality", "site"), map[string]string{"municipality": "Musterstadt", "site": "GS Nord"},
		Panel{Type: "bargauge", Title: "FTE per method (total)",
			Targets: []Target{q{meas: "staffing", fields: []string{"fte"}, where: `r.level == "total"`,
				pipe: []string{stLast, stGroup("method")}}.target("device_ratio")},
			Options: map[string]any{"displayMode": "basic", "orientation": "horizontal"}},
		Panel{Type: "bargauge", Title: "Gap to contract per method (person-days a year, total)",
			Targets: []Target{q{meas: "staffing", fields: []string{"gap_person_days"}, where: `r.level == "total"`,
				pipe: []string{stLast, stGroup("method")}}.target("device_ratio", "_value:20", "_value:36")},
			Options: map[string]any{"displayMode": "basic", "orientation": "horizontal"}},
		Panel{Type: "table", Title: "Per municipality", W: 24,
			Targets: []Target{q{meas: "staffing", fields: cols, vars: []string{"municipality"}, where: `r.level == "municipality"`,
				pipe: []string{stLast, stPivot("municipality", "method"), stUngroup, stKeep(append([]string{"municipality", "method"}, cols...)...)}}.target("Musterstadt")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Decimals: i(2)}, Overrides: []Override{{Matcher: Matcher{ID: "byName", Options: "cost_eur"}, Properties: []Property{{ID: "unit", Value: "currencyEUR"}}}}}},
		Panel{Type: "table", Title: "Per site", W: 24,
			Targets: []Target{q{meas: "staffing", fields: append([]string{"endpoints"}, cols...), vars: mts, where: `r.level == "site"`,
				pipe: []string{stLast, stPivot("municipality", "site", "method"), stUngroup, stKeep(append([]string{"municipality", "site", "method", "endpoints"}, cols...)...)}}.target("GS Nord")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Decimals: i(2)}, Overrides: []Override{{Matcher: Matcher{ID: "byName", Options: "cost_eur"}, Properties: []Property{{ID: "unit", Value: "currencyEUR"}}}}}},
		Panel{Type: "timeseries", Title: "Annual cost per method over time (total)", W: 24,
			Targets: []Target{q{meas: "staffing", fields: []string{"cost_eur"}, where: `r.level == "total"`,
				pipe: []string{stWindowMax, stGroup("method")}}.target("_value:71250", "_value:78850")},
			FieldConfig: unit("currencyEUR")},
	)
}

func agents() Dashboard {
	return base("schulmon-agents", "schulmon · Agents",
		"The agents: versions, when they were last heard of, their outbox, and how long their collectors take; and the collector itself.",
		vars("municipality", "site", "device"), map[string]string{"municipality": "Musterstadt", "site": "GS Nord", "device": "srv1"},
		Panel{Type: "table", Title: "Agents (last seen = time of the last heartbeat)", W: 24,
			Targets: []Target{q{meas: "schulmon_agent", fields: []string{"version", "points_queued", "uptime_s"}, vars: mtsd,
				pipe: []string{stLast, stPivot("_time", "municipality", "site", "device"), stUngroup, stKeep("_time", "municipality", "site", "device", "version", "points_queued", "uptime_s"), `sort(columns: ["_time"])`}}.target("srv1", "1.4.0")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{}, Overrides: []Override{{Matcher: Matcher{ID: "byName", Options: "_time"}, Properties: []Property{{ID: "displayName", Value: "last seen"}}}}}},
		Panel{Type: "bargauge", Title: "Agent versions",
			Targets: []Target{q{meas: "schulmon_agent", fields: []string{"version"}, vars: mtsd,
				pipe: []string{stLast, stUngroup, `duplicate(column: "_value", as: "version")`, stGroup("version"), "count()"}}.target("1.4.0")},
			Options: map[string]any{"displayMode": "basic", "orientation": "horizontal"}},
		Panel{Type: "timeseries", Title: "Outbox size (points waiting to be sent)",
			Targets: []Target{q{meas: "schulmon_agent", fields: []string{"points_queued"}, vars: mtsd,
				pipe: []string{stWindowMax, stGroup("site", "device")}}.target("srv1", "_value:11")}},
		Panel{Type: "timeseries", Title: "Collection duration per collector",
			Targets: []Target{q{meas: "schulmon_agent_collector", fields: []string{"duration_s"}, vars: mtsd,
				pipe: []string{stWindowMax, stGroup("device", "collector")}}.target("collector:cpu", "srv1")},
			FieldConfig: unit("s")},
		Panel{Type: "timeseries", Title: "Collector: InfluxDB queue and refused writes",
			Description: "The collector's own metrics (schulmon_collector): points waiting in its on-disk queue for InfluxDB, and write requests answered 5xx.",
			Targets: []Target{q{meas: "schulmon_collector", fields: []string{"queue_points", "write_requests_5xx"},
				pipe: []string{stWindowMax, stGroup("host", "_field")}}.target("collector1", "queue_points", "_value:110")}},
	)
}
