package sdk

import (
	"context"
	"testing"
	"time"

	"github.com/schulmon/schulmon/metric"
)

func benchResult() *Result {
	return &Result{Status: StatusOK, Message: "HTTP 200 in 35ms", Fields: []metric.Field{
		{Key: "http_status_code", Value: metric.Int(200)},
		{Key: "response_time_s", Value: metric.Float(0.035)},
		{Key: "content_match", Value: metric.Bool(true)},
		{Key: "cert_days_left", Value: metric.Float(41.5)},
	}}
}

// BenchmarkGRPCCollect is one Collect through the gRPC adapters and
// go-plugin's gRPC transport (in-process connection): the overhead the
// plugin protocol adds to every check, without process start-up.
func BenchmarkGRPCCollect(b *testing.B) {
	c := connectB(b, &fake{res: benchResult()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Collect(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResultConvert is the encoding and decoding of a typical result
// on both sides of the wire.
func BenchmarkResultConvert(b *testing.B) {
	r := benchResult()
	b.ReportAllocs()
	for b.Loop() {
		pr, err := resultToProto(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := resultFromProto(pr); err != nil {
			b.Fatal(err)
		}
	}
}
