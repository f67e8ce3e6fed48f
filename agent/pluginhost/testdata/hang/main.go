// Command hang is a test plugin whose Collect never returns and ignores its
// context, as a plugin stuck in a blocking call would.
package main

import (
	"context"

	"github.com/schulmon/schulmon/plugins/sdk"
)

type p struct{}

func (p) Describe(context.Context) (sdk.Info, error)      { return sdk.Info{Name: "hang"}, nil }
func (p) Configure(context.Context, string, []byte) error { return nil }
func (p) Collect(context.Context) (*sdk.Result, error) {
	select {}
}

func main() { sdk.Serve(p{}) }
