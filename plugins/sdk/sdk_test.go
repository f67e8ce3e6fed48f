package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/schulmon/schulmon/metric"
)

// fake is a Checker whose answers the tests set.
type fake struct {
	res         *Result
	err         error
	configured  string
	gotDeadline time.Duration
}

func (f *fake) Describe(context.Context) (Info, error) {
	return Info{Name: "fake", Version: "1.2.3", Description: "d", SampleConfig: "- name: x\n"}, nil
}

func (f *fake) Configure(_ context.Context, instance string, cfg []byte) error {
	var c struct {
		Target string `json:"target"`
	}
	if err := DecodeConfig(cfg, &c); err != nil {
		return err
	}
	f.configured = instance + ":" + c.Target
	return nil
}

func (f *fake) Collect(ctx context.Context) (*Result, error) {
	if dl, ok := ctx.Deadline(); ok {
		f.gotDeadline = time.Until(dl)
	}
	return f.res, f.err
}

// connect runs impl behind go-plugin's in-process gRPC transport and
// returns the host side's Checker.
func connect(t *testing.T, impl Checker) Checker { return connectB(t, impl) }

func connectB(t testing.TB, impl Checker) Checker {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{PluginName: &CheckPlugin{Impl: impl}})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(Checker)
}

func TestGRPCRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	f := &fake{res: &Result{
		Status:  StatusWarning,
		Message: "certificate expires in 10 days",
		Fields: []metric.Field{
			{Key: "f", Value: metric.Float(1.5)}, {Key: "i", Value: metric.Int(-7)},
			{Key: "u", Value: metric.Uint(1 << 63)}, {Key: "s", Value: metric.String("x y")},
			{Key: "b", Value: metric.Bool(true)},
		},
		Points: []metric.Point{
			metric.NewPoint("http_timing", map[string]string{"phase": "tls"}, map[string]metric.Value{"s": metric.Float(0.01)}, at),
			metric.NewPoint("http_timing", nil, map[string]metric.Value{"n": metric.Int(1)}, time.Time{}),
		},
	}}
	c := connect(t, f)
	ctx := context.Background()
	info, err := c.Describe(ctx)
	if err != nil || info != (Info{Name: "fake", Version: "1.2.3", Description: "d", SampleConfig: "- name: x\n"}) {
		t.Fatalf("Describe: %+v, %v", info, err)
	}
	if err := c.Configure(ctx, "inst", []byte(`{"target":"t"}`)); err != nil || f.configured != "inst:t" {
		t.Fatalf("Configure: %v, %q", err, f.configured)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := c.Collect(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusWarning || res.Message != f.res.Message {
		t.Errorf("status/message: %v %q", res.Status, res.Message)
	}
	if fmt.Sprint(res.Fields) != fmt.Sprint(f.res.Fields) {
		t.Errorf("fields:\n got %v\nwant %v", res.Fields, f.res.Fields)
	}
	for i, f := range res.Fields {
		if f.Value.Kind() != []metric.Kind{metric.KindFloat, metric.KindInt, metric.KindUint, metric.KindString, metric.KindBool}[i] {
			t.Errorf("field %s: kind %v", f.Key, f.Value.Kind())
		}
	}
	if len(res.Points) != 2 || !res.Points[0].Time.Equal(at) || !res.Points[1].Time.IsZero() {
		t.Fatalf("points: %+v", res.Points)
	}
	if v, _ := res.Points[0].Tag("phase"); v != "tls" {
		t.Errorf("point tags: %+v", res.Points[0].Tags)
	}
	// The plugin sees the deadline minus the reserve (10 %, at most 1 s).
	if f.gotDeadline > 4510*time.Millisecond || f.gotDeadline < 3*time.Second {
		t.Errorf("plugin deadline %s, want about 4.5s of the 5s", f.gotDeadline)
	}
}

func TestGRPCErrors(t *testing.T) {
	f := &fake{err: errors.New("snmp agent said no")}
	c := connect(t, f)
	ctx := context.Background()
	_, err := c.Collect(ctx)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "snmp agent said no" {
		t.Errorf("Collect error %T %v, want RemoteError with the plugin's message", err, err)
	}
	err = c.Configure(ctx, "i", []byte(`{"targt":"x"}`))
	if !errors.As(err, &re) || !strings.Contains(err.Error(), `unknown field "targt"`) {
		t.Errorf("Configure with a misspelt key: %v", err)
	}
	f.err, f.res = nil, &Result{Fields: []metric.Field{{Key: "empty"}}}
	if _, err := c.Collect(ctx); err == nil || !strings.Contains(err.Error(), `field "empty" has no value`) {
		t.Errorf("Collect with an invalid field: %v", err)
	}
	f.res = nil
	if _, err := c.Collect(ctx); err == nil || !strings.Contains(err.Error(), "neither a result nor an error") {
		t.Errorf("Collect with nil result: %v", err)
	}
}

func TestDuration(t *testing.T) {
	var c struct {
		A, B Duration
	}
	if err := DecodeConfig([]byte(`{"A":"250ms","B":1.5}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.A.D() != 250*time.Millisecond || c.B.D() != 1500*time.Millisecond {
		t.Errorf("%v %v", c.A.D(), c.B.D())
	}
	if err := DecodeConfig([]byte(`{"A":"5 minutes"}`), &c); err == nil || !strings.Contains(err.Error(), `duration "5 minutes"`) {
		t.Errorf("bad duration: %v", err)
	}
}

func TestWorse(t *testing.T) {
	for _, tc := range []struct{ a, b, want Status }{
		{StatusOK, StatusWarning, StatusWarning},
		{StatusCritical, StatusWarning, StatusCritical},
		{StatusUnknown, StatusOK, StatusUnknown},
		{StatusUnknown, StatusCritical, StatusCritical},
	} {
		if got := Worse(tc.a, tc.b); got != tc.want {
			t.Errorf("Worse(%v, %v) = %v", tc.a, tc.b, got)
		}
	}
}

func TestLoggerWritesHCLogJSON(t *testing.T) {
	var b strings.Builder
	logger := slog.New(newHCLogHandler(&b))
	logger.Warn("disk slow", "ms", 12)
	out := b.String()
	for _, want := range []string{`"@level":"warn"`, `"@message":"disk slow"`, `"ms":12`, `"@timestamp":"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %s lacks %s", out, want)
		}
	}
}
