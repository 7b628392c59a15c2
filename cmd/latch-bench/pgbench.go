package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// pgbench scripts of the alone scenarios on PostgreSQL: the statements of
// sqlstore's hot.go, rotate.go and queries.go with pgbench variables for the
// bound values, run prepared (-M prepared) as pgx runs them. Keys are built
// in SQL as seed and alone.go build them in Go. Each client has its own
// variables, so k counts that client's transactions (-D k=0 starts it):
// client c's refresh chain is its own, never contended, as in the load tool.
const (
	pgRefreshKey     = `'r' || lpad(:client_id::text, 8, '0') || lpad(:prev::text, 34, '0')`
	pgRefreshFamily  = `'g' || lpad(:client_id::text, 42, '0')`
	pgTokenValues    = `'read write', now(), now() + interval '1 hour'`
	pgNullSpentReply = `NULL::timestamptz, NULL::bytea`
)

var pgbenchScripts = map[string]string{
	"refresh": `\set prev :k
\set k :k + 1
BEGIN;
SELECT ` + aloneTokenFamilyColumns + `
FROM tokens t JOIN families f ON f.id = t.family_id WHERE t."key" = ` + pgRefreshKey + ` FOR UPDATE OF t, f;
WITH spent AS (
	UPDATE tokens SET spent_at = now(), replay = convert_to(repeat('r', 200), 'UTF8')
	WHERE "key" = ` + pgRefreshKey + ` AND spent_at IS NULL RETURNING 1
), touched AS (
	UPDATE families SET last_used_at = now() WHERE id = ` + pgRefreshFamily + ` AND EXISTS (SELECT 1 FROM spent) RETURNING 1
), issued AS (
	` + aloneTokenInsert + `
	SELECT * FROM (VALUES
		('x' || lpad(:client_id::text, 8, '0') || lpad(:k::text, 34, '0'), 'access', ` + pgRefreshFamily + `, 'bench-client', ` + pgTokenValues + `, '', ` + pgNullSpentReply + `),
		('r' || lpad(:client_id::text, 8, '0') || lpad(:k::text, 34, '0'), 'refresh', ` + pgRefreshFamily + `, 'bench-client', ` + pgTokenValues + `, ` + pgRefreshKey + `, ` + pgNullSpentReply + `)
	) AS v WHERE EXISTS (SELECT 1 FROM spent) RETURNING 1
), event AS (
	` + aloneEventInsert + `
	SELECT 'refreshed', ` + pgRefreshFamily + `, 'bench-client', '', '', '127.0.0.1', 'latch-bench', now() WHERE EXISTS (SELECT 1 FROM spent) RETURNING id
)
SELECT (SELECT count(*) FROM spent), (SELECT count(*) FROM touched), (SELECT count(*) FROM issued), COALESCE((SELECT id FROM event), 0);
COMMIT;
`,
	"client_credentials": `\set k :k + 1
WITH family AS (
	` + aloneFamilyInsert + `
	SELECT 'c' || lpad(:client_id::text, 8, '0') || lpad(:k::text, 34, '0'), 'bench-client', 'bench-generation', '', '', 'read write', 'https://api.example',
		now(), now(), now() + interval '1 hour', NULL, ''
	WHERE EXISTS (SELECT 1 FROM clients c WHERE c.id = 'bench-client' AND c.generation = 'bench-generation' FOR KEY SHARE)
	RETURNING 1
), issued AS (
	` + aloneTokenInsert + `
	SELECT * FROM (VALUES ('t' || lpad(:client_id::text, 8, '0') || lpad(:k::text, 34, '0'), 'access',
		'c' || lpad(:client_id::text, 8, '0') || lpad(:k::text, 34, '0'), 'bench-client', ` + pgTokenValues + `, '', ` + pgNullSpentReply + `)) AS v
	WHERE EXISTS (SELECT 1 FROM family) RETURNING 1
)
SELECT (SELECT count(*) FROM family);
`,
	"introspect": `\set i random(1, :rows)
SELECT ` + aloneClientColumns + `, ` + aloneTokenFamilyColumns + `
FROM clients c LEFT JOIN tokens t ON t."key" = 'a' || lpad(:i::text, 42, '0') LEFT JOIN families f ON f.id = t.family_id
WHERE c.id = 'bench-client';
`,
	// Client c ends families c*stride+1 to (c+1)*stride, then starts over
	// (no-ops: raise --rows).
	"revoke": `\set k :k + 1
\set i :client_id * :stride + (:k - 1) % :stride + 1
UPDATE families SET revoked_at = now(), revoke_reason = 'revoked' WHERE id = 'f' || lpad(:i::text, 42, '0') AND revoked_at IS NULL;
`,
}

// runPgbench runs one alone scenario with pgbench at the load tool's
// concurrency (2 threads) for its duration, and summarizes the per-
// transaction log (-l) as the load tool summarizes its samples.
func runPgbench(ctx context.Context, cfg *config, name string, stderr io.Writer) (result, error) {
	dir, err := os.MkdirTemp("", "latch-pgbench-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, name+".sql")
	if err := os.WriteFile(script, []byte(pgbenchScripts[name]), 0o600); err != nil {
		return result{}, err
	}
	secs := max(1, int(math.Ceil(cfg.duration.Seconds())))
	stride := max(1, cfg.rows/cfg.concurrency)
	args := []string{
		"-n", "-M", "prepared", "-c", itoa(cfg.concurrency), "-j", itoa(min(2, cfg.concurrency)), "-T", itoa(secs),
		"-D", "k=0", "-D", "rows=" + itoa(cfg.rows), "-D", "stride=" + itoa(stride),
		"-f", script, "-l", "--log-prefix=" + filepath.Join(dir, "log"),
		cfg.alone, // a URL; libpq reads it as the connection string
	}
	fmt.Fprintf(stderr, "latch-bench: alone: postgres: pgbench %s for %ds at concurrency %d\n", name, secs, cfg.concurrency)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, cfg.pgbench, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		// pgbench's messages name the server, never the password.
		return result{}, fmt.Errorf("latch-bench: alone: pgbench %s: %w\n%s", name, err, tail(out.String(), 10))
	}
	res, err := readPgbenchLogs(name, dir)
	if err != nil {
		return result{}, err
	}
	res.Concurrency = cfg.concurrency
	if tps, ok := pgbenchTPS(out.String()); ok && tps > 0 {
		res.RPS = tps
		res.DurationSeconds = float64(res.Requests) / tps
	}
	if stride*cfg.concurrency < res.Requests && name == "revoke" {
		res.Note = fmt.Sprintf("revoke went past the %d seeded families and updated some twice (no-ops); raise --rows", cfg.rows)
	}
	return res, nil
}

var tpsLine = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)

// pgbenchTPS reads the rate from pgbench's report.
func pgbenchTPS(out string) (float64, bool) {
	m := tpsLine.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// readPgbenchLogs reads pgbench's per-transaction logs in dir: lines of
// "client_id transaction_no time script_no time_epoch time_us", time being
// the latency in µs, or a word for a failed transaction.
func readPgbenchLogs(name, dir string) (result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "log.*"))
	if err != nil || len(files) == 0 {
		return result{}, fmt.Errorf("latch-bench: alone: pgbench %s wrote no transaction log", name)
	}
	var s samples
	var first, last time.Time
	for _, f := range files {
		if err := readPgbenchLog(f, &s, &first, &last); err != nil {
			return result{}, fmt.Errorf("latch-bench: alone: pgbench %s: %w", name, err)
		}
	}
	return summarize(name, last.Sub(first), []*samples{&s}), nil
}

func readPgbenchLog(path string, s *samples, first, last *time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		sec, err1 := strconv.ParseInt(fields[4], 10, 64)
		usec, err2 := strconv.ParseInt(fields[5], 10, 64)
		if err1 == nil && err2 == nil {
			end := time.Unix(sec, usec*1000)
			if first.IsZero() || end.Before(*first) {
				*first = end
			}
			if end.After(*last) {
				*last = end
			}
		}
		us, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			s.lat = append(s.lat, 0)
			s.fail(errKey{code: "pgbench: " + fields[2]})
			continue
		}
		s.lat = append(s.lat, time.Duration(us)*time.Microsecond)
	}
	return sc.Err()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
