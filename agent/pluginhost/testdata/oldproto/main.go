// Command oldproto is a test plugin built for a plugin protocol version the
// agent does not speak: its handshake must fail with a clear message.
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"

	"github.com/schulmon/schulmon/plugins/sdk"
)

type p struct{}

func (p) Describe(context.Context) (sdk.Info, error)      { return sdk.Info{Name: "oldproto"}, nil }
func (p) Configure(context.Context, string, []byte) error { return nil }
func (p) Collect(context.Context) (*sdk.Result, error) {
	return &sdk.Result{Status: sdk.StatusOK, Message: "should never be called"}, nil
}

func main() {
	hs := sdk.Handshake
	hs.ProtocolVersion = 99
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]plugin.PluginSet{99: {sdk.PluginName: &sdk.CheckPlugin{Impl: p{}}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
