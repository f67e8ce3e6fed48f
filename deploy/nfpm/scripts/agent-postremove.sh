#!/bin/sh
# schulmon-agent: after removal. deb 'purge' also removes the user, the state
# (for the collector: the embedded store; back it up first) and the logs;
# rpm has no purge and keeps them, as RPM conventions expect.
set -e
NAME=schulmon-agent
case "$1" in
purge)
	rm -rf "/var/lib/$NAME" "/var/log/$NAME"
	if getent passwd "$NAME" >/dev/null 2>&1; then userdel "$NAME" >/dev/null 2>&1 || true; fi
	if getent group "$NAME" >/dev/null 2>&1; then groupdel "$NAME" >/dev/null 2>&1 || true; fi
	rmdir /etc/schulmon 2>/dev/null || true
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
