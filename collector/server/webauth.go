package server

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/users"
)

// openOIDC discovers the configured identity provider. If it cannot be
// reached the collector still starts, with local logins only: monitoring
// must not depend on the identity provider being up.
func openOIDC(ctx context.Context, cfg users.WebConfig, log *slog.Logger) *users.OIDC {
	if cfg.OIDC == nil {
		return nil
	}
	secret := cfg.OIDC.ClientSecret
	if cfg.OIDC.ClientSecretFile != "" {
		b, err := os.ReadFile(cfg.OIDC.ClientSecretFile)
		if err != nil {
			log.Error("web.oidc: read client_secret_file; single sign-on is off", "err", err)
			return nil
		}
		secret = strings.TrimSpace(string(b))
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	o, err := users.NewOIDC(dctx, *cfg.OIDC, secret)
	if err != nil {
		log.Error("single sign-on is off until the next start", "err", err)
		return nil
	}
	log.Info("single sign-on enabled", "issuer", cfg.OIDC.Issuer)
	return o
}
