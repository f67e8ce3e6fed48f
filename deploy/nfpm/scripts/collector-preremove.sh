#!/bin/sh
# schulmon-collector: before removal (deb: remove; rpm: $1 = 0). Nothing on upgrade.
set -e
NAME=schulmon-collector
case "$1" in
remove|deconfigure|0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$NAME.service" >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
