// Command panic is a test plugin whose Collect panics, killing its process.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/schulmon/schulmon/plugins/sdk"
)

type p struct{}

func (p) Describe(context.Context) (sdk.Info, error) { return sdk.Info{Name: "panic"}, nil }
func (p) Configure(context.Context, string, []byte) error {
	fmt.Fprintln(os.Stderr, "configured (a plain stderr line)")
	return nil
}
func (p) Collect(context.Context) (*sdk.Result, error) {
	slog.Warn("about to panic", "reason", "test")
	panic("boom in collect")
}

func main() { sdk.Serve(p{}) }
