// Command hang is a test plugin that hangs in one place and ignores its
// context, as a plugin stuck in a blocking call would. Where it hangs is
// chosen by the environment variable SCHULMON_TEST_HANG, else by the suffix
// of its executable name (schulmon-plugin-hang-describe), so that one agent
// can run several kinds side by side:
//
//	start      before the handshake (the host's plugins.start_timeout)
//	describe   in Describe
//	configure  in Configure
//	collect    in Collect (the default)
//
// With SCHULMON_TEST_HANG_PIDFILE set it writes its process id there first,
// so that a test can check the host got rid of it.
package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schulmon/schulmon/plugins/sdk"
)

type p struct{ where string }

func (x p) Describe(context.Context) (sdk.Info, error) {
	x.hang("describe")
	return sdk.Info{Name: "hang"}, nil
}

func (x p) Configure(context.Context, string, []byte) error {
	x.hang("configure")
	return nil
}

func (x p) Collect(context.Context) (*sdk.Result, error) {
	x.hang("collect")
	return &sdk.Result{Status: sdk.StatusOK}, nil
}

func (x p) hang(here string) {
	if x.where != here {
		return
	}
	// Sleeping, not select{}: before the handshake no other goroutine runs
	// and the runtime would end a blocked program as a deadlock.
	for {
		time.Sleep(time.Hour)
	}
}

func main() {
	where := os.Getenv("SCHULMON_TEST_HANG")
	if where == "" {
		name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
		if i := strings.LastIndex(name, "hang-"); i >= 0 {
			where = name[i+len("hang-"):]
		}
	}
	if where == "" {
		where = "collect"
	}
	if f := os.Getenv("SCHULMON_TEST_HANG_PIDFILE"); f != "" {
		_ = os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o600)
	}
	x := p{where: where}
	x.hang("start")
	sdk.Serve(x)
}
