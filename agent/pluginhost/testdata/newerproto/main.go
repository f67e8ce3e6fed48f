// Command newerproto is a test plugin from the future: it speaks plugin
// protocol versions 1 and 2. Version negotiation must settle on 1, the
// highest version this agent knows, and the check must work.
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"

	"github.com/schulmon/schulmon/plugins/sdk"
)

type p struct{}

func (p) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "newerproto", Version: "2.0.0"}, nil
}
func (p) Configure(context.Context, string, []byte) error { return nil }
func (p) Collect(context.Context) (*sdk.Result, error) {
	return &sdk.Result{Status: sdk.StatusOK, Message: "spoke an older protocol for an older agent"}, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			1: {sdk.PluginName: &sdk.CheckPlugin{Impl: p{}}},
			2: {sdk.PluginName: &sdk.CheckPlugin{Impl: p{}}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}
