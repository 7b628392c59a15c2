#!/usr/bin/env bash
# run.sh: the fault suite (cmd/latch-faults). Called by make faults,
# make faults-short and make faults-selftest; builds bin/latch (static,
# CGO_ENABLED=0, as the Docker image does) and bin/latch-faults first.
#
#   run.sh full       every fault (about 3 minutes)
#   run.sh short      a few faults, for CI (under 2 minutes)
#   run.sh selftest   the short run with a planted fault: it passes only if
#                     the suite exits non-zero and names the broken invariant
#
# Settings (environment): FAULTS_CHAINS (default 24), FAULTS_LOG_DIR (where
# the logs are kept: default tmp/faults/<time>), FAULTS_FLAGS (more flags
# of latch-faults, e.g. --drain-delay=0s to see the drain check fail).
#
# Everything runs on 127.0.0.1. The suite stops every process it started;
# if it dies itself, the trap below stops what its pid file lists and the
# private PostgreSQL cluster.
set -euo pipefail

cd "$(dirname "$0")/../.."

mode=${1:-full}
case $mode in
full) flags=() ;;
short) flags=(--short) ;;
selftest) flags=(--short --selftest) ;;
*)
	echo "run.sh: unknown mode $mode (want full, short or selftest)" >&2
	exit 2
	;;
esac

if ! command -v haproxy >/dev/null 2>&1; then
	echo "run.sh: haproxy is missing; installing Debian's package" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q haproxy >/dev/null || { apt-get update -q && apt-get install -y -q haproxy >/dev/null; }
fi

CGO_ENABLED=0 go build -o bin/latch ./cmd/latch
go build -o bin/latch-faults ./cmd/latch-faults

workdir=$(mktemp -d "${TMPDIR:-/tmp}/latch-faults.XXXXXX")
logdir=${FAULTS_LOG_DIR:-tmp/faults/$(date +%Y%m%d-%H%M%S)-$mode}

cleanup() {
	# What the suite started and may have left behind, by pid.
	if [[ -f $workdir/pids ]]; then
		while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$workdir/pids"
	fi
	if [[ -f $workdir/pgdata/postmaster.pid ]]; then
		local pg_ctl
		pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1)
		if [[ $(id -u) == 0 ]]; then
			runuser -u postgres -- "$pg_ctl" -D "$workdir/pgdata" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
		else
			"$pg_ctl" -D "$workdir/pgdata" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
		fi
	fi
	if [[ -d $workdir/logs ]]; then
		mkdir -p "$logdir"
		cp -r "$workdir/logs/." "$logdir/" 2>/dev/null || true
	fi
	rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

out=$workdir/out.txt
set +e
read -r -a extra <<<"${FAULTS_FLAGS:-}"
bin/latch-faults --latch bin/latch --workdir "$workdir" --chains "${FAULTS_CHAINS:-24}" "${flags[@]}" "${extra[@]}" 2>&1 | tee "$out"
code=${PIPESTATUS[0]}
set -e
echo "(logs: $logdir)"

if [[ $mode != selftest ]]; then
	exit "$code"
fi
# The self-test passes only if the suite failed, and for the planted fault.
if [[ $code != 0 ]] && grep -q '^BROKEN: no refresh chain lost' "$out"; then
	echo "selftest: ok, the suite exited $code and named the planted fault"
	exit 0
fi
echo "selftest: FAILED, the suite exited $code without naming the planted fault (no refresh chain lost)" >&2
exit 1
