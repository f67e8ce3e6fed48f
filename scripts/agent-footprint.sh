#!/usr/bin/env bash
# Measures the agent's steady state: RSS and CPU share at the default 10 s
# interval with all host inputs, reporting to a local collector.
# Usage: scripts/agent-footprint.sh [SECONDS] (default 120). Needs bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-120}
BIN=${BIN:-./bin}
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=18600; while port_busy $PORT; do PORT=$((PORT+1)); done
TOKEN=$("$BIN/schulmon-collector" token create --data-dir "$TMP/c" --site footprint --municipality bench | tail -n 1)
"$BIN/schulmon-collector" serve --data-dir "$TMP/c" --listen 127.0.0.1:$PORT 2>"$TMP/c.log" &
sleep 1
cat > "$TMP/agent.yaml" <<YAML
collector:
  url: http://127.0.0.1:$PORT
  token: $TOKEN
state_dir: $TMP/agent
metrics_listen: ""
YAML
"$BIN/schulmon-agent" --config "$TMP/agent.yaml" 2>"$TMP/a.log" &
APID=$!
sleep 15 # warm-up: first rounds, connections, GC settling
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' /proc/$APID/stat; }
t0=$(ticks); s0=$(date +%s.%N)
rss=()
end=$(( $(date +%s) + DUR ))
while [ "$(date +%s)" -lt $end ]; do
  rss+=("$(awk '/VmRSS/{print $2}' /proc/$APID/status)")
  sleep 1
done
t1=$(ticks); s1=$(date +%s.%N)
breakdown=$(awk '/RssAnon|RssFile/{printf "%s %d KiB; ", $1, $2}' /proc/$APID/status)
sorted=$(printf '%s\n' "${rss[@]}" | sort -n)
median=$(echo "$sorted" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
maxrss=$(echo "$sorted" | tail -n 1)
cpu=$(awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$HZ" 'BEGIN{printf "%.3f", 100*(t1-t0)/hz/(s1-s0)}')
echo "agent steady state over ${DUR}s at 10 s interval: RSS median $((median/1024)) MiB ($median KiB), max $((maxrss/1024)) MiB; CPU ${cpu}% of one core ($breakdown)"
