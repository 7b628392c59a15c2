package main

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestPickerRanges checks that every n in [0, total) maps to an op and that
// each op owns exactly its weight of them: the mixed scenario is exactly
// 80/15/4/1 over a uniform draw.
func TestPickerRanges(t *testing.T) {
	t.Parallel()
	p := newPicker(mixes["mixed"])
	if p.total() != 100 {
		t.Fatalf("total = %d, want 100", p.total())
	}
	got := map[op]int{}
	for n := range p.total() {
		got[p.at(n)]++
	}
	want := map[op]int{opIntrospect: 80, opRefresh: 15, opPassword: 4, opRevoke: 1}
	for o, w := range want {
		if got[o] != w {
			t.Errorf("%s owns %d of 100, want %d", o, got[o], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ops drawn: %v", got)
	}
	// Boundaries: the first 80 are introspect, the last one revoke.
	if p.at(0) != opIntrospect || p.at(79) != opIntrospect || p.at(80) != opRefresh || p.at(99) != opRevoke {
		t.Errorf("boundaries: %s %s %s %s", p.at(0), p.at(79), p.at(80), p.at(99))
	}
}

// TestPickerDistribution draws from a seeded generator and checks each
// share within five standard deviations of its weight.
func TestPickerDistribution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mix  []weighted
	}{
		{"mixed", mixes["mixed"]},
		{"single", []weighted{{opRefresh, 1}}},
		{"uneven", []weighted{{opPassword, 1}, {opRevoke, 999}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPicker(tc.mix)
			r := rand.New(rand.NewPCG(1, 2))
			const draws = 200_000
			got := map[op]int{}
			for range draws {
				got[p.pick(r)]++
			}
			total := 0
			for _, w := range tc.mix {
				total += w.weight
			}
			for _, w := range tc.mix {
				prob := float64(w.weight) / float64(total)
				mean := draws * prob
				sd := math.Sqrt(draws * prob * (1 - prob))
				if d := math.Abs(float64(got[w.op]) - mean); d > 5*sd+1 {
					t.Errorf("%s drawn %d times, want %.0f ± %.0f", w.op, got[w.op], mean, 5*sd)
				}
			}
		})
	}
}

func TestParseScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{"one", "refresh", []string{"refresh"}, false},
		{"two with spaces", "refresh, introspect", []string{"refresh", "introspect"}, false},
		{"all", "all", scenarioNames, false},
		{"unknown", "refresh,nope", nil, true},
		{"empty", "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseScenarios(tc.in)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("parseScenarios(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
	for _, name := range scenarioNames {
		if mixes[name] == nil {
			t.Errorf("scenario %s has no mix", name)
		}
	}
}

// TestScheduleWait: an open-loop worker's requests fall due every interval
// from its staggered start; on time, the latency clock starts when the
// request is sent; behind, it starts at the due time; none falls due at or
// after the deadline.
func TestScheduleWait(t *testing.T) {
	t.Parallel()
	if newSchedule(0, 4, 0, time.Now()) != nil {
		t.Fatal("rate 0 gave a schedule, want a closed loop")
	}

	// 100/s over 2 workers: each every 20 ms, worker 1 offset by 10 ms.
	start := time.Now()
	s := newSchedule(100, 2, 1, start)
	clock, ok := s.wait(t.Context(), start.Add(time.Hour))
	if due := start.Add(10 * time.Millisecond); !ok || clock.Before(due) {
		t.Errorf("on time: wait = %v, %v; want the send time, at or after %v", clock, ok, due)
	}
	if want := start.Add(30 * time.Millisecond); !s.next.Equal(want) {
		t.Errorf("next due %v, want %v", s.next, want)
	}

	// Started a second ago: every request is overdue, and its clock is
	// its due time, without sleeping.
	past := time.Now().Add(-time.Second)
	s = newSchedule(100, 2, 0, past)
	for k := range 3 {
		clock, ok := s.wait(t.Context(), time.Now().Add(time.Hour))
		if want := past.Add(time.Duration(k) * 20 * time.Millisecond); !ok || !clock.Equal(want) {
			t.Errorf("behind, request %d: wait = %v, %v; want %v", k, clock, ok, want)
		}
	}

	// Due at the deadline: the run is over.
	s = newSchedule(100, 1, 0, past)
	if _, ok := s.wait(t.Context(), past); ok {
		t.Error("a request due at the deadline was sent")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, ok := newSchedule(1, 1, 0, time.Now().Add(time.Hour)).wait(ctx, time.Now().Add(2*time.Hour)); ok {
		t.Error("wait ignored a cancelled context")
	}
}
