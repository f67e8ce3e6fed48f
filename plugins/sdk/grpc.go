package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk/proto"
)

// CheckPlugin is the go-plugin glue: on the plugin side it registers the
// gRPC server around Impl, on the host side it returns a GRPCClient.
type CheckPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Checker
}

// GRPCServer registers the Check service (plugin side).
func (p *CheckPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterCheckServer(s, &GRPCServer{Impl: p.Impl})
	return nil
}

// GRPCClient returns a Checker that calls the plugin (host side).
func (p *CheckPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &GRPCClient{client: proto.NewCheckClient(c)}, nil
}

// GRPCClient is the host side's Checker: each method is one gRPC call.
type GRPCClient struct{ client proto.CheckClient }

var _ Checker = (*GRPCClient)(nil)

// Describe asks the plugin what it is.
func (c *GRPCClient) Describe(ctx context.Context) (Info, error) {
	r, err := c.client.Describe(ctx, &proto.DescribeRequest{})
	if err != nil {
		return Info{}, fromStatus(err)
	}
	return Info{Name: r.Name, Version: r.Version, Description: r.Description, SampleConfig: r.SampleConfig}, nil
}

// Configure hands the instance configuration to the plugin.
func (c *GRPCClient) Configure(ctx context.Context, instance string, configJSON []byte) error {
	_, err := c.client.Configure(ctx, &proto.ConfigureRequest{Instance: instance, ConfigJson: configJSON})
	return fromStatus(err)
}

// Collect runs the check once in the plugin.
func (c *GRPCClient) Collect(ctx context.Context) (*Result, error) {
	r, err := c.client.Collect(ctx, &proto.CollectRequest{})
	if err != nil {
		return nil, fromStatus(err)
	}
	return resultFromProto(r)
}

// RemoteError is an error a plugin returned on purpose (as opposed to a
// transport failure: a crash, a timeout). The host tells the two apart to
// decide whether to restart the plugin.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// fromStatus turns a gRPC status back into an error. Errors the plugin's
// implementation returned arrive as codes.Unknown with its message and
// become RemoteError; deadline and transport errors keep their gRPC status so
// that the host can recognise a hang or a crash.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if ok && st.Code() == codes.Unknown {
		return &RemoteError{Msg: st.Message()}
	}
	return err
}

// GRPCServer is the plugin side: it serves the Check service from Impl.
type GRPCServer struct {
	proto.UnimplementedCheckServer
	Impl Checker
}

// Describe serves Checker.Describe.
func (s *GRPCServer) Describe(ctx context.Context, _ *proto.DescribeRequest) (*proto.DescribeResponse, error) {
	info, err := s.Impl.Describe(ctx)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &proto.DescribeResponse{Name: info.Name, Version: info.Version, Description: info.Description, SampleConfig: info.SampleConfig}, nil
}

// Configure serves Checker.Configure.
func (s *GRPCServer) Configure(ctx context.Context, req *proto.ConfigureRequest) (*proto.ConfigureResponse, error) {
	if err := s.Impl.Configure(ctx, req.Instance, req.ConfigJson); err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &proto.ConfigureResponse{}, nil
}

// Collect serves Checker.Collect. The implementation gets the caller's
// deadline minus a reserve, so that a plugin honouring its context answers
// "timed out" itself instead of being declared hung by the host.
func (s *GRPCServer) Collect(ctx context.Context, _ *proto.CollectRequest) (*proto.CollectResponse, error) {
	if dl, ok := ctx.Deadline(); ok {
		reserve := time.Until(dl) / 10
		if reserve > time.Second {
			reserve = time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	r, err := s.Impl.Collect(ctx)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	if r == nil {
		return nil, status.Error(codes.Unknown, "plugin returned neither a result nor an error")
	}
	return resultToProto(r)
}

func resultToProto(r *Result) (*proto.CollectResponse, error) {
	out := &proto.CollectResponse{Status: proto.Status(r.Status), Message: r.Message}
	var err error
	if out.Fields, err = fieldsToProto(r.Fields); err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	for i := range r.Points {
		p := &r.Points[i]
		pp := &proto.Point{Measurement: p.Measurement}
		if !p.Time.IsZero() {
			pp.TimeUnixNano = p.Time.UnixNano()
		}
		for _, t := range p.Tags {
			pp.Tags = append(pp.Tags, &proto.Tag{Key: t.Key, Value: t.Value})
		}
		if pp.Fields, err = fieldsToProto(p.Fields); err != nil {
			return nil, status.Error(codes.Unknown, fmt.Sprintf("point %q: %v", p.Measurement, err))
		}
		out.Points = append(out.Points, pp)
	}
	return out, nil
}

func fieldsToProto(fs []metric.Field) ([]*proto.Field, error) {
	out := make([]*proto.Field, 0, len(fs))
	for _, f := range fs {
		v := &proto.Value{}
		switch f.Value.Kind() {
		case metric.KindFloat:
			v.Kind = &proto.Value_Float{Float: f.Value.FloatValue()}
		case metric.KindInt:
			v.Kind = &proto.Value_Int{Int: f.Value.IntValue()}
		case metric.KindUint:
			v.Kind = &proto.Value_Uint{Uint: f.Value.UintValue()}
		case metric.KindString:
			v.Kind = &proto.Value_String_{String_: f.Value.StringValue()}
		case metric.KindBool:
			v.Kind = &proto.Value_Bool{Bool: f.Value.BoolValue()}
		default:
			return nil, fmt.Errorf("field %q has no value (use metric.Float, metric.Int, …)", f.Key)
		}
		out = append(out, &proto.Field{Key: f.Key, Value: v})
	}
	return out, nil
}

func resultFromProto(r *proto.CollectResponse) (*Result, error) {
	st := Status(r.Status)
	if st < StatusOK || st > StatusUnknown {
		return nil, fmt.Errorf("plugin sent status %d, want 0..3", r.Status)
	}
	out := &Result{Status: st, Message: r.Message}
	var err error
	if out.Fields, err = fieldsFromProto(r.Fields); err != nil {
		return nil, err
	}
	for _, pp := range r.Points {
		if pp.Measurement == "" {
			return nil, errors.New("plugin sent a point without a measurement")
		}
		p := metric.Point{Measurement: pp.Measurement}
		if pp.TimeUnixNano != 0 {
			p.Time = time.Unix(0, pp.TimeUnixNano)
		}
		for _, t := range pp.Tags {
			p.Tags = append(p.Tags, metric.Tag{Key: t.Key, Value: t.Value})
		}
		metric.SortTags(p.Tags)
		if p.Fields, err = fieldsFromProto(pp.Fields); err != nil {
			return nil, fmt.Errorf("point %q: %w", pp.Measurement, err)
		}
		if len(p.Fields) == 0 {
			return nil, fmt.Errorf("plugin sent point %q without fields", pp.Measurement)
		}
		out.Points = append(out.Points, p)
	}
	return out, nil
}

func fieldsFromProto(fs []*proto.Field) ([]metric.Field, error) {
	out := make([]metric.Field, 0, len(fs))
	for _, f := range fs {
		if f.Key == "" {
			return nil, errors.New("plugin sent a field without a key")
		}
		var v metric.Value
		switch k := f.GetValue().GetKind().(type) {
		case *proto.Value_Float:
			v = metric.Float(k.Float)
		case *proto.Value_Int:
			v = metric.Int(k.Int)
		case *proto.Value_Uint:
			v = metric.Uint(k.Uint)
		case *proto.Value_String_:
			v = metric.String(k.String_)
		case *proto.Value_Bool:
			v = metric.Bool(k.Bool)
		default:
			return nil, fmt.Errorf("plugin sent field %q without a value", f.Key)
		}
		out = append(out, metric.Field{Key: f.Key, Value: v})
	}
	return out, nil
}
