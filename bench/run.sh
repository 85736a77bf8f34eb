#!/usr/bin/env bash
# The :execute benchmark: echo runtime, 1,000 distinct slugs, 32 connections, side by side in one
# run with GET /healthz (the HTTP ceiling) and with the same writes made without HTTP.
#
#   bench/run.sh                      # 10 s per HTTP measurement
#   DURATION=30s bench/run.sh         # longer, steadier figures
#
# It builds in release mode, starts fruxon on a throw-away database, and prints a table of
# requests per second and latency, with ratios. wrk is the load generator (apt package `wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (the load generator)..." >&2
  apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet --bin fruxon --bench storage

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

RUST_LOG=${RUST_LOG:-info} target/release/fruxon serve --bind 127.0.0.1:0 \
  --db "$work/bench.db" >"$work/stdout" 2>"$work/stderr" &
server=$!

port=""
for _ in $(seq 1 100); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/stderr" | head -1 | cut -d: -f2 || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "fruxon did not start:" >&2; cat "$work/stderr" >&2; exit 1; }
key=$(grep -o 'fx_[0-9a-f]\{64\}' "$work/stdout" | head -1)
base="http://127.0.0.1:$port"
execute="$base/v1/tenants/demo/agents/support-bot:execute"

# Every slug is sighted once before measuring, so the figures are the steady state: existing
# environments, one execution record per request.
FRUXON_KEY=$key wrk -t1 -c4 -d2s -s bench/execute.lua "$execute" >/dev/null

run_wrk() {
  local name=$1
  shift
  wrk -t"$threads" -c"$connections" -d"$duration" --latency "$@" >"$work/$name.txt"
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$name.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$name.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name.txt")
  errors=$(awk '/Non-2xx/ {print $5}' "$work/$name.txt")
  printf '%s %s %s %s\n' "$rps" "$p50" "$p99" "${errors:-0}"
}

read -r health_rps health_p50 health_p99 health_err < <(run_wrk healthz "$base/healthz")
read -r exec_rps exec_p50 exec_p99 exec_err < <(FRUXON_KEY=$key run_wrk execute \
  -s bench/execute.lua "$execute")

storage=$(cargo bench --quiet --bench storage)

echo
echo "fruxon :execute benchmark ($connections connections, $threads wrk threads, $duration each)"
printf '%-34s %12s %10s %10s %8s\n' "measurement" "req/s" "p50" "p99" "non-2xx"
printf '%-34s %12s %10s %10s %8s\n' "GET /healthz (HTTP ceiling)" "$health_rps" "$health_p50" \
  "$health_p99" "$health_err"
printf '%-34s %12s %10s %10s %8s\n' ":execute, echo, 1,000 slugs" "$exec_rps" "$exec_p50" \
  "$exec_p99" "$exec_err"
echo "$storage"
awk -v e="$exec_rps" -v h="$health_rps" \
  'BEGIN { printf "ratio :execute / healthz: %.2f\n", e / h }'
stored=$(grep -c ' 200 tenant=demo agent=support-bot' "$work/stderr" || true)
echo "request log lines for answered executions: $stored"
