package main

import (
	"context"
	"time"

	"github.com/schulmon/schulmon/collector/availability/avserver"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
)

// attachWeb gives the web UI the availability engine's states and adds
// the alert channels of the config's "alerting" section to the alerting
// manager.
func attachWeb(srv *server.Server, att *avserver.Attached, cfg config.Config) error {
	if att == nil || att.Engine == nil {
		return nil
	}
	srv.Web.SetAvailability(att.Engine)
	built, err := cfg.Alerting.Build(nil)
	if err != nil {
		return err
	}
	for _, n := range built.Notifiers {
		if err := att.Alerts.AddNotifier(n); err != nil {
			return err
		}
	}
	for _, b := range built.Background {
		srv.AddJob("alert-resend "+b.Name(), b.Interval(), func(ctx context.Context, _ time.Time) error { return b.Resend(ctx) })
	}
	return nil
}
