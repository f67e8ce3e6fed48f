// Package sdk is everything a check plugin for schulmon needs: the plain Go
// interface a plugin implements (Checker), the gRPC adapters that carry it
// between the agent and the plugin process (hashicorp/go-plugin), the
// handshake both sides must agree on, and Serve, which turns an
// implementation into a plugin executable.
//
// A plugin is a separate program. The agent starts it, hands it the
// instance's configuration once (Configure) and then asks it for a result
// every interval (Collect). A plugin that crashes or hangs only loses its own
// results: the agent kills and restarts it with back-off.
//
// The layout follows go-plugin's examples/grpc: interface.go (this file),
// grpc.go (client and server adapters), proto/ (service definition and
// generated code).
package sdk

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"

	"github.com/schulmon/schulmon/metric"
)

// Checker is what a check plugin implements.
type Checker interface {
	// Describe says what the plugin is. It must not depend on
	// configuration: the host may call it before Configure.
	Describe(ctx context.Context) (Info, error)
	// Configure receives the instance's `config:` block as JSON. It is
	// called once after the plugin starts, before any Collect. Validate
	// everything here (see DecodeConfig) and say what is wrong: the error
	// reaches the agent's log and the check's message.
	Configure(ctx context.Context, instance string, configJSON []byte) error
	// Collect runs the check once. ctx carries the instance timeout (minus
	// a small reserve so that the answer still reaches the host in time);
	// honour it. A failed check is a Result with StatusCritical and a
	// message, not an error: return an error only when the check could
	// not be run at all (it becomes StatusUnknown).
	Collect(ctx context.Context) (*Result, error)
}

// Info describes a plugin.
type Info struct {
	Name         string // short name, e.g. "http"; the plugin tag of its points
	Version      string
	Description  string
	SampleConfig string // a sample instance entry in YAML, for users
}

// Status is a check's status, with Nagios' numbering.
type Status int32

// Check statuses: the `status` field of the `check` measurement.
const (
	StatusOK       Status = 0
	StatusWarning  Status = 1
	StatusCritical Status = 2
	StatusUnknown  Status = 3
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusWarning:
		return "warning"
	case StatusCritical:
		return "critical"
	case StatusUnknown:
		return "unknown"
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// Worse returns the more severe of two statuses (critical > warning >
// unknown > ok), so that a plugin can combine several sub-checks.
func Worse(a, b Status) Status {
	rank := func(s Status) int {
		switch s {
		case StatusCritical:
			return 3
		case StatusWarning:
			return 2
		case StatusUnknown:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Result is the outcome of one Collect.
type Result struct {
	Status  Status
	Message string
	// Fields are added to the instance's `check` point next to status,
	// message and duration_s (e.g. http_status_code, cert_days_left).
	Fields []metric.Field
	// Points are further points in the plugin's own measurements. The host
	// adds the device, check and plugin tags where they are missing, and
	// the collect time where Time is zero.
	Points []metric.Point
}

// AddField appends a typed field to the result's check point.
func (r *Result) AddField(key string, v metric.Value) {
	r.Fields = append(r.Fields, metric.Field{Key: key, Value: v})
}

// ProtocolVersion is the version of the plugin protocol this SDK speaks.
// Host and plugin negotiate the highest version both know (go-plugin's
// VersionedPlugins); a plugin built for a protocol the agent does not know
// fails its handshake with a message naming both versions.
const ProtocolVersion = 1

// PluginName is the name of the check plugin in go-plugin's plugin set.
const PluginName = "check"

// Handshake is the configuration host and plugins must agree on. The magic
// cookie is not a security measure: it only makes a plugin binary started
// by hand say that it is a plugin instead of hanging.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SCHULMON_PLUGIN",
	MagicCookieValue: "check-7c1e0b6a",
}

// VersionedPlugins returns the plugin sets per protocol version, with impl
// as the implementation (nil on the host side).
func VersionedPlugins(impl Checker) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &CheckPlugin{Impl: impl}},
	}
}
