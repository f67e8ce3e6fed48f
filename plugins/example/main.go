// Command example is a complete third-party check plugin: is the nightly
// backup file fresh? Build it as schulmon-plugin-backupage into the agent's
// plugin directory.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk"
)

type backupAge struct {
	cfg struct {
		Path   string       `json:"path"`
		MaxAge sdk.Duration `json:"max_age"`
	}
}

func (b *backupAge) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "backupage", Version: "1.0.0", Description: "age of the newest backup file"}, nil
}

func (b *backupAge) Configure(_ context.Context, _ string, raw []byte) error {
	if err := sdk.DecodeConfig(raw, &b.cfg); err != nil {
		return err
	}
	if b.cfg.Path == "" || b.cfg.MaxAge <= 0 {
		return fmt.Errorf("config: set path and max_age (e.g. 26h)")
	}
	return nil
}

func (b *backupAge) Collect(context.Context) (*sdk.Result, error) {
	fi, err := os.Stat(b.cfg.Path)
	if err != nil {
		return &sdk.Result{Status: sdk.StatusCritical, Message: err.Error()}, nil
	}
	age := time.Since(fi.ModTime())
	res := &sdk.Result{Status: sdk.StatusOK, Message: fmt.Sprintf("backup is %s old", age.Round(time.Minute))}
	if age > b.cfg.MaxAge.D() {
		res.Status = sdk.StatusCritical
	}
	res.AddField("age_s", metric.Float(age.Seconds()))
	return res, nil
}

func main() { sdk.Serve(&backupAge{}) }
