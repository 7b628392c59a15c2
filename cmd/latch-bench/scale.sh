#!/usr/bin/env bash
# scale.sh: how refresh and introspection latency grow with the number of live
# logins. For each N in BENCH_SCALE (default "1000 100000 1000000") it creates a
# fresh PostgreSQL database, lets `latch migrate` build the schema, seeds N live
# logins (a family, an access token and a refresh token each, random keys) with
# SQL, starts `latch serve` on it and runs the refresh and introspect scenarios
# of latch-bench. Loopback only; everything it creates is dropped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

latch=bin/latch bench=bin/latch-bench
duration=${BENCH_DURATION:-8s} concurrency=${BENCH_CONCURRENCY:-32}
pg=(psql -h "${BENCH_PGHOST:-127.0.0.1}" -p "${BENCH_PGPORT:-5432}" -U "${BENCH_PGUSER:-postgres}" -v ON_ERROR_STOP=1 -qAt)
db="latch_scale_$RANDOM$RANDOM" port=18095 admin=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
server_pid=
cleanup() {
	[[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
	"${pg[@]}" -d "${BENCH_PGDATABASE:-test}" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

for n in ${BENCH_SCALE:-1000 100000 1000000}; do
	cleanup; server_pid=
	"${pg[@]}" -d "${BENCH_PGDATABASE:-test}" -c "CREATE DATABASE $db"
	url="postgres://${BENCH_PGUSER:-postgres}@${BENCH_PGHOST:-127.0.0.1}:${BENCH_PGPORT:-5432}/$db?sslmode=disable"
	export LATCH_DATABASE_URL=$url LATCH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	"$latch" migrate >/dev/null
	start=$(date +%s)
	"${pg[@]}" -d "$db" <<SQL
INSERT INTO families (id, client_id, user_id, username, scopes, audience, created_at, last_used_at, expires_at, revoke_reason)
SELECT 'seed-' || i, 'seed-client', 'seed-user-' || (i % 10000), 'seed', 'read', '', now(), now(), now() + interval '90 days', ''
FROM generate_series(1, $n) AS i;
INSERT INTO tokens ("key", kind, family_id, client_id, scopes, issued_at, expires_at, parent_key)
SELECT md5(random()::text) || md5(random()::text), 'access', 'seed-' || i, 'seed-client', 'read', now(), now() + interval '15 minutes', ''
FROM generate_series(1, $n) AS i
UNION ALL
SELECT md5(random()::text) || md5(random()::text), 'refresh', 'seed-' || i, 'seed-client', 'read', now(), now() + interval '30 days', ''
FROM generate_series(1, $n) AS i;
ANALYZE;
SQL
	echo "== $n live logins seeded in $(( $(date +%s) - start ))s ($(( 2 * n )) tokens)"
	LATCH_ADDR=127.0.0.1:$port LATCH_ADMIN_TOKEN=$admin LATCH_LOG_FORMAT=json "$latch" serve >/dev/null 2>&1 &
	server_pid=$!
	for _ in $(seq 60); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
	LATCH_ADMIN_TOKEN=$admin "$bench" --url "http://127.0.0.1:$port" --scenario refresh,introspect \
		--duration "$duration" --concurrency "$concurrency" 2>/dev/null
done
