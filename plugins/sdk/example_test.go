package sdk_test

import (
	"fmt"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk"
)

// A plugin's Configure decodes its instance configuration strictly: a
// misspelt option is an error that names it.
func ExampleDecodeConfig() {
	var cfg struct {
		URL     string       `json:"url"`
		Timeout sdk.Duration `json:"timeout"`
	}
	err := sdk.DecodeConfig([]byte(`{"url":"https://moodle.schule.example/","timeout":"2.5s"}`), &cfg)
	fmt.Println(cfg.URL, cfg.Timeout.D(), err)

	err = sdk.DecodeConfig([]byte(`{"ulr":"https://moodle.schule.example/"}`), &cfg)
	fmt.Println(err)
	// Output:
	// https://moodle.schule.example/ 2.5s <nil>
	// config: json: unknown field "ulr"
}

// Collect combines sub-checks with Worse and reports typed fields.
func ExampleResult() {
	res := &sdk.Result{Status: sdk.StatusOK, Message: "HTTP 200"}
	res.AddField("http_status_code", metric.Int(200))
	daysLeft := 10.0
	res.AddField("cert_days_left", metric.Float(daysLeft))
	if daysLeft < 30 {
		res.Status = sdk.Worse(res.Status, sdk.StatusWarning)
		res.Message += fmt.Sprintf(": certificate expires in %.0f days", daysLeft)
	}
	fmt.Println(res.Status, int(res.Status), res.Message)
	// Output: warning 1 HTTP 200: certificate expires in 10 days
}
