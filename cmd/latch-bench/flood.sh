#!/usr/bin/env bash
# flood.sh: refresh and introspection latency with and without a password
# flood (issue 4). On a fresh PostgreSQL database it starts `latch serve`,
# runs a steady refresh client and a steady introspection client together
# (BENCH_STEADY_CONCURRENCY each, default 2) for BENCH_DURATION (default 15s),
# then does it again while a password flood (BENCH_FLOOD_CONCURRENCY, default
# 64) runs over the whole of their timed phase. With BENCH_STEADY_RATE, each
# steady client sends that many requests per second on a fixed schedule
# (latch-bench --rate: an open loop, as real traffic is) instead of one
# after another as fast as the server answers.
#
# BENCH_FLOOD=hash floods with bare argon2id hashes in the load tool itself
# (latch-bench's hash scenario: Latch's cost, at most one hash per CPU at a
# time) instead of password grants, and Latch serves only the steady
# clients: what the hashing alone costs them on this machine, without any
# of a login's other work. BENCH_FLOOD_RATE (per second; default 0, as fast
# as the flood's workers go) paces either flood, for example at the hashes
# per second a password flood reached. Loopback only; everything it creates
# is dropped on exit. Called by `make bench-flood`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

latch=bin/latch bench=bin/latch-bench
duration=${BENCH_DURATION:-15s} steady=${BENCH_STEADY_CONCURRENCY:-2} flood=${BENCH_FLOOD_CONCURRENCY:-64}
rate=${BENCH_STEADY_RATE:-0} kind=${BENCH_FLOOD:-password} flood_rate=${BENCH_FLOOD_RATE:-0}
secs=${duration%s}
[[ $secs =~ ^[0-9]+$ ]] || { echo "flood.sh: BENCH_DURATION must be whole seconds, like 15s" >&2; exit 2; }
case $kind in
password) flood_args=(--scenario password --users "$flood") ;;
hash) flood_args=(--scenario hash) ;;
*) echo "flood.sh: BENCH_FLOOD must be password or hash" >&2; exit 2 ;;
esac
pg=(psql -X -h "${BENCH_PGHOST:-127.0.0.1}" -p "${BENCH_PGPORT:-5432}" -U "${BENCH_PGUSER:-postgres}" -v ON_ERROR_STOP=1 -qAt)
db="latch_flood_$RANDOM$RANDOM" port=18096 admin=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
out=$(mktemp -d "${TMPDIR:-/tmp}/latch-flood.XXXXXX")
server_pid=
cleanup() {
	[[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
	"${pg[@]}" -d "${BENCH_PGDATABASE:-test}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$out"
}
trap cleanup EXIT

"${pg[@]}" -d "${BENCH_PGDATABASE:-test}" -c "CREATE DATABASE $db"
# Every client logs in from 127.0.0.1, and the per-address guard counts
# logins in flight: the flood would otherwise lock its own address out.
LATCH_DATABASE_URL="postgres://${BENCH_PGUSER:-postgres}@${BENCH_PGHOST:-127.0.0.1}:${BENCH_PGPORT:-5432}/$db?sslmode=disable" \
	LATCH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') LATCH_ADDR=127.0.0.1:$port \
	LATCH_ADMIN_TOKEN=$admin LATCH_LOG_FORMAT=json LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS=100000 \
	"$latch" serve >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 60); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done

run() { LATCH_ADMIN_TOKEN=$admin "$bench" --url "http://127.0.0.1:$port" "$@" 2>/dev/null; }

# steady LABEL: both steady clients at once; prints their table rows.
steady() {
	run --scenario refresh --duration "$duration" --concurrency "$steady" --rate "$rate" >"$out/refresh" &
	local p1=$!
	run --scenario introspect --duration "$duration" --concurrency "$steady" --rate "$rate" >"$out/introspect"
	wait "$p1"
	echo "== $1"
	tail -n 2 "$out/refresh"
	tail -n 1 "$out/introspect"
}

steady "alone"
# The flood outlasts the steady clients: it starts first, and they start
# once its users exist and its workers are busy.
run "${flood_args[@]}" --duration "$((secs + 10))s" --concurrency "$flood" --rate "$flood_rate" >"$out/flood" &
flood_pid=$!
sleep 5
steady "$kind flood c=$flood"
wait "$flood_pid"
echo "== the flood itself"
tail -n 2 "$out/flood"
