#!/usr/bin/env bash
# `make run`: a collector with the embedded store and a local agent
# reporting to it. Everything lives in ./var/run-local; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./bin}
DATA=${SCHULMON_RUN_DIR:-./var/run-local}
PORT=${PORT:-8086}
mkdir -p "$DATA"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
while port_busy "$PORT"; do PORT=$((PORT + 1)); done
ADDR=127.0.0.1:$PORT

col=("$BIN/schulmon-collector")
if [ ! -s "$DATA/agent-token" ]; then
  "${col[@]}" site add demo-schule --municipality Demo-Stadt --school-type grundschule --data-dir "$DATA/collector" >/dev/null
  "${col[@]}" token create --data-dir "$DATA/collector" --site demo-schule --municipality Demo-Stadt --description "make run" | tail -n 1 > "$DATA/agent-token"
  "${col[@]}" token create --data-dir "$DATA/collector" --role operator --description "make run API" | tail -n 1 > "$DATA/operator-token"
  chmod 600 "$DATA/agent-token" "$DATA/operator-token"
fi
if [ ! -s "$DATA/web-password" ]; then
  # A demo operator for the web UI with a random password.
  (umask 077; head -c 30 /dev/urandom | base64 | tr -d '/+=' | head -c 20 > "$DATA/web-password")
  "${col[@]}" user add admin --role operator --password-file "$DATA/web-password" --data-dir "$DATA/collector" >/dev/null 2>&1 \
    || "${col[@]}" user passwd admin --password-file "$DATA/web-password" --data-dir "$DATA/collector" >/dev/null
fi
cat > "$DATA/agent.yaml" <<YAML
collector:
  url: http://$ADDR
  token_file: $DATA/agent-token
  flush_interval: 5s
interval: 10s
state_dir: $DATA/agent
metrics_listen: 127.0.0.1:0
YAML

pids=()
cleanup() {
  trap - INT TERM EXIT
  # The agent first, so that its last flush still reaches the collector.
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "schulmon stopped."
}
trap cleanup INT TERM EXIT

# GET /health through bash's /dev/tcp, so that no curl is needed.
healthy() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
    printf 'GET /health HTTP/1.0\r\nHost: %s\r\n\r\n' "$ADDR" >&3
    read -r -t 2 status <&3 || exit 1
    [[ $status == *" 200 "* ]]
  ) 2>/dev/null
}

"${col[@]}" serve --data-dir "$DATA/collector" --listen "$ADDR" 2>>"$DATA/collector.log" &
pids+=($!)
ok=
for _ in $(seq 1 300); do
  if healthy; then ok=1; break; fi
  # A collector that exited will never become healthy: say so at once.
  kill -0 "${pids[0]}" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ok" ]; then
  echo "schulmon: the collector did not become healthy at http://$ADDR/health; last lines of $DATA/collector.log:" >&2
  tail -n 20 "$DATA/collector.log" >&2 || true
  exit 1
fi
"$BIN/schulmon-agent" --config "$DATA/agent.yaml" 2>>"$DATA/agent.log" &
pids+=($!)

echo "schulmon is running: http://$ADDR/"
echo "  web login: user admin, password $(cat "$DATA/web-password") (stored in $DATA/web-password)"
echo "  API token (operator): $(cat "$DATA/operator-token")"
echo "  logs: $DATA/collector.log, $DATA/agent.log — Ctrl-C stops both"
wait -n "${pids[@]}" || true
