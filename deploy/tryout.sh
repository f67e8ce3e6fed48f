#!/usr/bin/env bash
# Follows deploy/README.md literally on a Debian machine where we are root
# but systemd is not running (a container): the packages are installed with
# dpkg, and the services are started with their units' ExecStartPre and
# ExecStart lines as their users. Deviations from the README, each marked
# DEVIATION: the collector listens on a free loopback port instead of
# 0.0.0.0:8086, and the backup goes to a temporary name.
#   sudo deploy/tryout.sh            (after make packages)
# Leaves the machine as it found it (dpkg --purge at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n=== %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
# Minimal machines have no sudo; we are root already.
if ! command -v sudo >/dev/null; then
  sudo() { if [ "$1" = -u ]; then local u=$2; shift 2; runuser -u "$u" -- "$@"; else "$@"; fi; }
fi
for p in schulmon-agent schulmon-collector; do
  if dpkg -s "$p" >/dev/null 2>&1; then echo "$p is installed already; not touching it" >&2; exit 1; fi
done
AGENT_DEB=$(ls -t dist/schulmon-agent_*.deb | head -1)
COLL_DEB=$(ls -t dist/schulmon-collector_*.deb | head -1)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  dpkg --purge schulmon-agent schulmon-collector >/dev/null 2>&1 || true
}
trap cleanup EXIT
start_unit() { # unit user: run ExecStartPre, then ExecStart in the background
  local unit=$1 user=$2 pre start
  pre=$(sed -n 's/^ExecStartPre=//p' "/usr/lib/systemd/system/$unit.service")
  start=$(sed -n 's/^ExecStart=//p' "/usr/lib/systemd/system/$unit.service")
  runuser -u "$user" -- $pre
  runuser -u "$user" -- $start >"/tmp/$unit.log" 2>&1 &
  pids+=($!)
}
wait_health() {
  for _ in $(seq 1 60); do curl -sfk "https://127.0.0.1:$PORT/health" >/dev/null && return 0; sleep 0.5; done
  cat /tmp/schulmon-collector.log; return 1
}

step "Run the collector: install the package"
dpkg -i "$COLL_DEB"
# DEVIATION: a free loopback port instead of 0.0.0.0:8086
sed -i "s/^listen: .*/listen: 127.0.0.1:$PORT/" /etc/schulmon/collector.yaml
start_unit schulmon-collector schulmon-collector
wait_health
FP=$(schulmon-collector tls fingerprint /var/lib/schulmon-collector/tls/collector.crt)
echo "fingerprint $FP"
curl -sk "https://127.0.0.1:$PORT/health"; echo
grep -q "plain HTTP" /tmp/schulmon-collector.log && { echo "collector warned about plain HTTP with TLS on"; exit 1; }

step "The data centre makes an enrollment token"
OUT=$(sudo -u schulmon-collector schulmon-collector enrollment create --config /etc/schulmon/collector.yaml \
     --site gs-nord --municipality Musterstadt --expires 48h --uses 1)
echo "$OUT"
TOKEN=$(echo "$OUT" | tail -n 1)
OPERATOR=$(sudo -u schulmon-collector schulmon-collector token create --config /etc/schulmon/collector.yaml --role operator | tail -n 1)

step "Install the agent: package, config, enroll, check, start"
dpkg -i "$AGENT_DEB"
sed -i "s#^  url: .*#  url: https://127.0.0.1:$PORT#; s#^    fingerprint: .*#    fingerprint: \"$FP\"#" /etc/schulmon/agent.yaml
echo "$TOKEN" | sudo schulmon-agent enroll --config /etc/schulmon/agent.yaml --enrollment-token -
ls -l /var/lib/schulmon-agent/token
[ "$(stat -c '%U %a' /var/lib/schulmon-agent/token)" = "schulmon-agent 600" ] || { echo "token file owner/mode wrong"; exit 1; }
grep -q "sm_" /etc/schulmon/agent.yaml && { echo "a token ended up in the config file"; exit 1; }
sudo schulmon-agent check-config --config /etc/schulmon/agent.yaml
sudo schulmon-agent --config /etc/schulmon/agent.yaml --once | head -n 3
SECOND=$(echo "$TOKEN" | sudo schulmon-agent enroll --config /etc/schulmon/agent.yaml --enrollment-token - --state-dir /tmp/tryout-second 2>&1 || true)
echo "$SECOND"
echo "$SECOND" | grep -q "used up" || { echo "second use of a single-use token was not refused"; exit 1; }
start_unit schulmon-agent schulmon-agent
HOST=$(hostname)
for _ in $(seq 1 40); do
  curl -sfk -H "Authorization: Token $OPERATOR" "https://127.0.0.1:$PORT/api/v1/sites/gs-nord/devices" | grep -q "\"$HOST\"" && break
  sleep 0.5
done
curl -sfk -H "Authorization: Token $OPERATOR" "https://127.0.0.1:$PORT/api/v1/sites/gs-nord/devices" | grep -q "\"$HOST\"" \
  || { echo "agent $HOST does not report for site gs-nord"; exit 1; }
echo "agent $HOST reports for site gs-nord: ok"

step "Back up while running, restore after stop"
BK=/var/lib/schulmon-collector/backup-tryout-$$   # DEVIATION: unique name instead of the date
sudo -u schulmon-collector schulmon-collector backup --config /etc/schulmon/collector.yaml --to "$BK"
kill "${pids[0]}"; wait "${pids[0]}" || true     # = systemctl stop schulmon-collector
sudo -u schulmon-collector schulmon-collector restore --config /etc/schulmon/collector.yaml --from "$BK" --force
start_unit schulmon-collector schulmon-collector   # = systemctl start schulmon-collector
wait_health
[ "$(schulmon-collector tls fingerprint /var/lib/schulmon-collector/tls/collector.crt)" = "$FP" ] || { echo "fingerprint changed by the restore"; exit 1; }
echo "fingerprint unchanged after restore: ok"
curl -sfk -H "Authorization: Token $OPERATOR" "https://127.0.0.1:$PORT/api/v1/sites/gs-nord/devices" | grep -q "\"$HOST\"" \
  || { echo "inventory or operator token lost by backup and restore"; exit 1; }
echo "inventory and operator token survived backup and restore: ok"

step "Upgrade (reinstall of the package over itself) keeps config and token"
dpkg -i "$AGENT_DEB"
grep -q "$FP" /etc/schulmon/agent.yaml && [ -s /var/lib/schulmon-agent/token ] || { echo "the reinstall lost config or token"; exit 1; }
echo "config and token kept: ok"

step "Purge"
kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()
dpkg --purge schulmon-agent schulmon-collector
if getent passwd schulmon-agent || [ -e /var/lib/schulmon-collector ]; then echo "purge left user or data behind"; exit 1; fi
echo "purged: ok"
