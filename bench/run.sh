#!/usr/bin/env bash
# The :execute benchmark: echo runtime, 1,000 distinct slugs, 32 connections, side by side in one
# run with GET /healthz (the HTTP ceiling), with an enforced budget on every environment, and
# with the same writes made without HTTP.
#
#   bench/run.sh                          # 10 s per HTTP measurement
#   DURATION=30s ROUNDS=5 bench/run.sh    # longer, steadier figures (median of the rounds)
#   BASELINE=/path/to/old/fruxon bench/run.sh
#                                         # also measure another build's :execute in the same run
#
# It builds in release mode, starts fruxon on a throw-away database, and prints requests per
# second and latency, with ratios. wrk is the load generator (Debian package `wrk`).
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
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

# Starts a server from binary $2 under the name $1; sets base_$1 and key_$1. With a third
# argument "budgets", every environment gets an enforced budget it never reaches.
start() {
  local name=$1 bin=$2 budgets=${3:-} port=""
  RUST_LOG=${RUST_LOG:-info} "$bin" serve --bind 127.0.0.1:0 --db "$work/$name.db" \
    >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/$name.err" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$name did not start:" >&2; cat "$work/$name.err" >&2; exit 1; }
  printf -v "base_$name" '%s' "http://127.0.0.1:$port"
  printf -v "key_$name" '%s' "$(grep -o 'fx_[0-9a-f]\{64\}' "$work/$name.out" | head -1)"
  # Every slug is sighted once before measuring, so the figures are the steady state:
  # existing environments, one execution record per request.
  local base="base_$name" key="key_$name"
  if [ "$budgets" = budgets ]; then
    curl -sf -X PUT "${!base}/v1/tenants/demo/settings" -H "X-API-KEY: ${!key}" \
      -d '{"defaultBudget": {"limitUsd": 1000000, "period": "month", "enforce": true}}' \
      >/dev/null
  fi
  FRUXON_KEY=${!key} wrk -t1 -c4 -d2s -s bench/execute.lua \
    "${!base}/v1/tenants/demo/agents/support-bot:execute" >/dev/null
}

# Runs wrk and prints "req/s p50 p99 non-2xx".
measure() {
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

row() {
  printf '%-34s %12s %10s %10s %8s\n' "$@"
}

# The raw writes first, before any server has a write-ahead log to checkpoint.
storage=$(cargo bench --quiet --bench storage)

start current target/release/fruxon
start budgeted target/release/fruxon budgets
[ -z "${BASELINE:-}" ] || start baseline "$BASELINE"

read -r h_rps h_p50 h_p99 h_err < <(measure healthz "$base_current/healthz")

# The builds compared take turns, ROUNDS times (3 unless set), with a pause between turns for
# the last one's checkpoint; each row reports its median round, so one noisy moment (the
# machine is shared) does not decide a ratio.
rounds=${ROUNDS:-3}
round() {
  local name=$1 base=$2 key=$3
  FRUXON_KEY=$key measure "$name-$4" -s bench/execute.lua \
    "$base/v1/tenants/demo/agents/support-bot:execute" >"$work/$name-round$4"
  sleep 3
}
for r in $(seq 1 "$rounds"); do
  round execute "$base_current" "$key_current" "$r"
  round budgeted "$base_budgeted" "$key_budgeted" "$r"
  [ -z "${BASELINE:-}" ] || round baseline "$base_baseline" "$key_baseline" "$r"
done
pick() {
  cat "$work/$1"-round* | sort -k1,1 -g | sed -n "$(((rounds + 1) / 2))p"
}
read -r e_rps e_p50 e_p99 e_err < <(pick execute)
read -r g_rps g_p50 g_p99 g_err < <(pick budgeted)
[ -z "${BASELINE:-}" ] || read -r b_rps b_p50 b_p99 b_err < <(pick baseline)

echo
echo "fruxon :execute benchmark ($connections connections, $threads wrk threads, $duration each)"
row "measurement" "req/s" "p50" "p99" "non-2xx"
row "GET /healthz (HTTP ceiling)" "$h_rps" "$h_p50" "$h_p99" "$h_err"
row ":execute, echo, 1,000 slugs" "$e_rps" "$e_p50" "$e_p99" "$e_err"
row ":execute, a budget on each slug" "$g_rps" "$g_p50" "$g_p99" "$g_err"
[ -z "${BASELINE:-}" ] || row ":execute, baseline build" "$b_rps" "$b_p50" "$b_p99" "$b_err"
echo "$storage"
awk -v e="$e_rps" -v h="$h_rps" 'BEGIN { printf "ratio :execute / healthz: %.2f\n", e / h }'
budgets=$(curl -s "$base_budgeted/v1/tenants/demo/budgets" -H "X-API-KEY: $key_budgeted" |
  grep -o '"environmentSlug"' | wc -l)
echo "budgets in force on the budgeted server: $budgets"
awk -v g="$g_rps" -v e="$e_rps" \
  'BEGIN { printf "ratio with budgets / without: %.2f\n", g / e }'
[ -z "${BASELINE:-}" ] ||
  awk -v e="$e_rps" -v b="$b_rps" 'BEGIN { printf "ratio :execute / baseline: %.2f\n", e / b }'
