#!/bin/sh
# schulmon-agent: after install and upgrade (deb: configure; rpm: $1 = 1 or 2).
# Creates the system user, the state and log directories, lets the user
# read its config, and restarts a running service after an upgrade. A
# fresh install is enabled but not started: configure (and enroll) first.
set -e
NAME=schulmon-agent
if [ "$1" = "configure" ] || [ "$1" = "1" ] || [ "$1" = "2" ] || [ -z "$1" ]; then
	if ! getent group "$NAME" >/dev/null 2>&1; then
		groupadd --system "$NAME"
	fi
	if ! getent passwd "$NAME" >/dev/null 2>&1; then
		nologin=$(command -v nologin || echo /usr/sbin/nologin)
		useradd --system --gid "$NAME" --home-dir "/var/lib/$NAME" --no-create-home \
			--shell "$nologin" --comment "schulmon agent" "$NAME"
	fi
	install -d -o "$NAME" -g "$NAME" -m 0700 "/var/lib/$NAME"
	install -d -o "$NAME" -g "$NAME" -m 0750 "/var/log/$NAME"
	chgrp "$NAME" /etc/schulmon/agent.yaml
	chmod 0640 /etc/schulmon/agent.yaml
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	systemctl enable "$NAME.service" >/dev/null 2>&1 || true
	# Upgrade: restart only if it was running.
	systemctl try-restart "$NAME.service" >/dev/null 2>&1 || true
fi
exit 0
