package runtime

import (
	"context"

	"github.com/schulmon/schulmon/agent/pluginhost"
)

// pluginService runs the `plugins:` section (check plugins) beside host
// metrics; a failing plugin is reported through its check points and never
// stops the agent.
type pluginService struct{ h *pluginhost.Host }

func (pluginService) Name() string { return "plugins" }

func (s pluginService) Run(ctx context.Context, sink Sink) error { return s.h.Run(ctx, sink) }
