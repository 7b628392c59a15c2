#!/usr/bin/env bash
# run.sh: every latch-bench scenario against a fresh Latch on SQLite, then on
# a fresh PostgreSQL database; after each, the same database work without
# Latch (latch-bench --alone: in process on SQLite, pgbench on PostgreSQL);
# at the end, each endpoint's ratio against issue 16's bars (latch-bench
# --ratios). Called by `make bench-load`, which builds bin/latch and
# bin/latch-bench first.
#
# Settings (environment):
#   BENCH_DURATION     timed phase of each scenario (default 10s)
#   BENCH_CONCURRENCY  closed-loop workers (default 32)
#   BENCH_SCENARIOS    comma-separated scenarios (default all)
#   BENCH_DATABASES    "sqlite postgres" (default), or one of them
#   BENCH_PGHOST, BENCH_PGPORT, BENCH_PGUSER, BENCH_PGDATABASE
#                      the PostgreSQL server and the database to connect to
#                      for CREATE/DROP DATABASE (127.0.0.1, 5432, postgres, test)
#   BENCH_LOG_DIR      where server logs and the JSON reports go (default
#                      tmp/bench-load/<time>)
#   BENCH_ALONE        0 to skip the alone measurements and the ratios
#   BENCH_PGBENCH      pgbench binary (default: pgbench on PATH, else the newest
#                      /usr/lib/postgresql/*/bin/pgbench)
#   BENCH_FLAGS        extra latch-bench flags, e.g. "--json"
#   BENCH_LATCH        the latch binary to measure (default bin/latch; an older
#                      build for a before/after table)
set -euo pipefail

cd "$(dirname "$0")/../.."

duration=${BENCH_DURATION:-10s}
concurrency=${BENCH_CONCURRENCY:-32}
scenarios=${BENCH_SCENARIOS:-all}
databases=${BENCH_DATABASES:-sqlite postgres}
pghost=${BENCH_PGHOST:-127.0.0.1}
pgport=${BENCH_PGPORT:-5432}
pguser=${BENCH_PGUSER:-postgres}
pgdatabase=${BENCH_PGDATABASE:-test}
logdir=${BENCH_LOG_DIR:-tmp/bench-load/$(date +%Y%m%d-%H%M%S)}
run_alone=${BENCH_ALONE:-1}
pgbench=${BENCH_PGBENCH:-$(command -v pgbench || ls -d /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1 || true)}
read -r -a extra <<<"${BENCH_FLAGS:-}"

latch=${BENCH_LATCH:-bin/latch}
bench=bin/latch-bench
for bin in "$latch" "$bench"; do
	[[ -x $bin ]] || { echo "run.sh: $bin is missing; run make bench-load" >&2; exit 1; }
done

mkdir -p "$logdir"
workdir=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench.XXXXXX")
server_pid=
pg_db=
alone_db=

randhex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

psql_admin() {
	psql -X -q -v ON_ERROR_STOP=1 -h "$pghost" -p "$pgport" -U "$pguser" -d "$pgdatabase" -c "$1" >/dev/null
}

stop_server() {
	if [[ -n $server_pid ]]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
}

drop_database() {
	local db
	for db in $pg_db $alone_db; do
		psql_admin "DROP DATABASE IF EXISTS $db WITH (FORCE)" ||
			echo "run.sh: could not drop database $db; drop it by hand" >&2
	done
	pg_db= alone_db=
}

cleanup() {
	stop_server
	drop_database
	rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback TCP port nothing listens on, from 18080 up.
free_port() {
	local port
	for port in $(seq 18080 18180); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	echo "run.sh: no free port in 18080-18180" >&2
	return 1
}

# bench_against NAME DATABASE_URL [SECRET [SETTLE]]: start a server, run
# the scenarios, stop it. SETTLE is latch-bench's --settle command.
bench_against() {
	local name=$1 dburl=$2 secret=${3:-} settle=${4:-}
	# The database's CPU per request, when PostgreSQL runs on this machine.
	local pgcpu=()
	if [[ $dburl == postgres://* && ($pghost == 127.0.0.1 || $pghost == localhost) ]]; then
		pgcpu=(--pg-cpu)
	fi
	local port admin log
	port=$(free_port)
	admin=$(randhex 24)
	log="$logdir/latch-$name.log"
	(
		# Every virtual user logs in from 127.0.0.1, and the per-address
		# guard counts logins in flight: at concurrency 64 the default of 50
		# would refuse the tool's own logins.
		export LATCH_ADDR="127.0.0.1:$port" LATCH_DATABASE_URL="$dburl" \
			LATCH_ADMIN_TOKEN="$admin" LATCH_LOG_FORMAT=json \
			LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS=100000
		if [[ -n $secret ]]; then export LATCH_SECRET="$secret"; fi
		exec "$latch" serve
	) >"$log" 2>&1 &
	server_pid=$!

	local url="http://127.0.0.1:$port" ready=
	for _ in $(seq 150); do
		if ! kill -0 "$server_pid" 2>/dev/null; then
			server_pid=
			echo "run.sh: latch serve ($name) exited during start-up; last log lines:" >&2
			tail -n 5 "$log" >&2
			return 1
		fi
		if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then
			ready=1
			break
		fi
		sleep 0.2
	done
	[[ -n $ready ]] || { echo "run.sh: latch serve ($name) not ready after 30s; see $log" >&2; return 1; }

	echo
	echo "== $name: $url, $scenarios for $duration at concurrency $concurrency (server log: $log)"
	LATCH_ADMIN_TOKEN="$admin" "$bench" --url "$url" --scenario "$scenarios" \
		--duration "$duration" --concurrency "$concurrency" --settle "$settle" "${pgcpu[@]}" \
		--out "$logdir/latch-$name.json" "${extra[@]}"
	stop_server

	# Server-side trouble the client cannot see (5xx causes, panics).
	local errors
	errors=$(grep -c '"level":"ERROR"' "$log" || true)
	if [[ $errors != 0 ]]; then
		echo "server log: $errors ERROR lines in $log; first:"
		grep -m 3 '"level":"ERROR"' "$log" | cut -c1-400
	fi
}

# alone NAME URL: the statements of each endpoint on the scratch database
# URL, without Latch, at the same concurrency and for the same duration.
alone() {
	[[ $run_alone != 0 ]] || return 0
	echo
	echo "== $1 alone: the endpoints' statements without Latch, for $duration at concurrency $concurrency"
	"$bench" --alone "$2" --pgbench "${pgbench:-pgbench}" --duration "$duration" \
		--concurrency "$concurrency" --out "$logdir/alone-$1.json"
}

for db in $databases; do
	case $db in
	sqlite)
		bench_against sqlite "sqlite:$workdir/latch.db"
		alone sqlite "sqlite:$workdir/alone.db"
		;;
	postgres)
		pg_db="latch_bench_$(randhex 6)"
		psql_admin "CREATE DATABASE $pg_db"
		# Before each timed phase: vacuum what the fixtures and the scenario
		# before left behind, and checkpoint, so that autovacuum and the
		# checkpointer do that work outside the clock, not inside the next
		# scenario's.
		bench_against postgres "postgres://$pguser@$pghost:$pgport/$pg_db?sslmode=disable" "$(randhex 32)" \
			"psql -X -q -v ON_ERROR_STOP=1 -h $pghost -p $pgport -U $pguser -d $pg_db -c 'VACUUM ANALYZE' -c 'CHECKPOINT'"
		drop_database
		if [[ $run_alone != 0 ]]; then
			alone_db="latch_alone_$(randhex 6)"
			psql_admin "CREATE DATABASE $alone_db"
			alone postgres "postgres://$pguser@$pghost:$pgport/$alone_db?sslmode=disable"
		fi
		drop_database
		;;
	*)
		echo "run.sh: unknown database $db in BENCH_DATABASES (want sqlite, postgres)" >&2
		exit 2
		;;
	esac
done

if [[ $run_alone != 0 ]]; then
	echo
	echo "== ratios: Latch req/s over the database alone, against issue 16's bars (reports in $logdir)"
	"$bench" --ratios "$logdir"
fi
