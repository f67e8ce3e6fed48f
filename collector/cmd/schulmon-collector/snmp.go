package main

import (
	"context"

	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/snmppoll"
)

// startSNMP polls the data centre's devices configured under `snmp:` in
// the collector itself. Call it after every observer is attached, so that
// availability and inventory see the first poll.
func startSNMP(ctx context.Context, srv *server.Server, cfg config.Config) {
	if !cfg.SNMP.Enabled() {
		return
	}
	go func() {
		if err := snmppoll.Run(ctx, cfg.SNMP, srv.Ingest, srv.Dir, srv.Log); err != nil {
			srv.Log.Error("snmp polling in the collector stopped; the rest of the collector goes on", "site", cfg.SNMP.Site, "err", err)
		}
	}()
}
