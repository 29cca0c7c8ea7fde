package stormload

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/webhook"
)

// TestBuild checks the storm's shape, and that the webhook accepts every
// notification of it.
func TestBuild(t *testing.T) {
	s := Storm{Alerts: 1000, Services: 50, PerRequest: 3, ResolvedShare: 0.2, Seed: 1}
	ns := s.Build(1)
	firing, resolved, twins := 0, 0, 0
	services := map[string]bool{}
	fps := map[string]bool{}
	for i, n := range ns {
		_, alerts, rejected, err := webhook.Decode(n.Body, nil)
		if err != nil || len(rejected) > 0 || len(alerts) != n.Alerts || n.Alerts > 3 {
			t.Fatalf("notification %d: %v, %d rejected, %d alerts of %d", i, err, len(rejected), len(alerts), n.Alerts)
		}
		for j, a := range alerts {
			if a.Service != n.Service || a.Fingerprint != n.Fingerprints[j] || a.Status != map[bool]string{true: "resolved", false: "firing"}[n.Resolved] {
				t.Fatalf("notification %d alert %d: %+v", i, j, a)
			}
		}
		services[n.Service] = true
		if n.Resolved {
			resolved += n.Alerts
			// Its firing twin is right before or right after it.
			if !(i > 0 && !ns[i-1].Resolved && ns[i-1].Fingerprints[0] == n.Fingerprints[0] ||
				i+1 < len(ns) && !ns[i+1].Resolved && ns[i+1].Fingerprints[0] == n.Fingerprints[0]) {
				t.Fatalf("resolved notification %d has no adjacent firing twin", i)
			}
			twins++
			continue
		}
		firing += n.Alerts
		for _, fp := range n.Fingerprints {
			if fps[fp] {
				t.Fatalf("fingerprint %s twice", fp)
			}
			fps[fp] = true
		}
	}
	if firing != 1000 || len(services) != 50 || twins == 0 || resolved == 0 {
		t.Errorf("%d firing alerts over %d services, %d resolved in %d notifications", firing, len(services), resolved, twins)
	}
	t.Log(Describe(ns))
}

func TestRun(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1)%10 == 0 {
			w.Header().Set("Connection", "close") // a client must open a new connection
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	ns := Storm{Alerts: 300, Services: 7, ResolvedShare: 0.1, Seed: 2}.Build(1)
	res, err := Run(context.Background(), Target{Name: "t", URL: srv.URL + "/hook", Token: "tok"}, ns, 8)
	if err != nil {
		t.Fatal(err)
	}
	if res.Codes[202] != len(ns) || res.Non2xx() != 0 || len(res.Latencies) != len(ns) || int(n.Load()) != len(ns) {
		t.Fatalf("codes %s, %d requests served, %d sent", res.CodesString(), n.Load(), len(ns))
	}
	for i, ok := range res.Accepted {
		if !ok {
			t.Fatalf("notification %d not accepted", i)
		}
	}
	if res.Quantile(0.5) > res.Quantile(0.99) || res.Quantile(0.99) > res.Quantile(1) || res.ReqPerSec() <= 0 {
		t.Errorf("quantiles %v %v %v", res.Quantile(0.5), res.Quantile(0.99), res.Quantile(1))
	}
	// 8 workers dial once each, and again after each answer that closed
	// its connection (every tenth).
	dialed := 0
	for _, d := range res.Dialed {
		if d {
			dialed++
		}
	}
	if want := 8 + len(ns)/10; dialed < 8 || dialed > want {
		t.Errorf("%d requests on a new connection, want 8 to %d", dialed, want)
	}
	if len(res.Sent) != len(ns) || len(res.Took) != len(ns) || res.Start.IsZero() {
		t.Errorf("%d send times, %d durations, start %v", len(res.Sent), len(res.Took), res.Start)
	}
}

func TestSlow(t *testing.T) {
	ms := time.Millisecond
	r := Result{
		Sent:   []time.Duration{0, 5 * ms, 25 * ms, 26 * ms, 70 * ms},
		Took:   []time.Duration{1 * ms, 9 * ms, 8 * ms, 2 * ms, 7 * ms},
		Dialed: []bool{true, true, false, false, false},
	}
	r.Latencies = slices.Sorted(slices.Values(r.Took))
	// Over the 0.5 quantile (7 ms, nearest rank): 9, 8 ms, sent in the
	// bins starting at 0 and 20 ms; the one of 9 ms on a new connection.
	want := "0:1 20:1 (on a new connection: 1; the first requests of the connections took 9ms at the median)"
	if got := r.Slow(0.5, 20*ms); got != want {
		t.Errorf("Slow = %q, want %q", got, want)
	}
}

func TestCPUPerRequest(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want time.Duration
	}{
		{Result{Requests: 4, CPU: 200 * time.Microsecond}, 50 * time.Microsecond},
		{Result{Requests: 0, CPU: time.Second}, 0},
		{Result{Requests: 3}, 0},
	} {
		if got := tc.r.CPUPerRequest(); got != tc.want {
			t.Errorf("%d requests, %s of CPU: %s a request, want %s", tc.r.Requests, tc.r.CPU, got, tc.want)
		}
	}
}

func TestPool(t *testing.T) {
	ms := time.Millisecond
	a := Result{Target: "x", Requests: 3, Alerts: 3, Elapsed: 100 * ms, CPU: 30 * ms,
		Latencies: []time.Duration{1 * ms, 2 * ms, 9 * ms}, Codes: map[int]int{202: 3}}
	b := Result{Target: "x", Requests: 2, Alerts: 4, Elapsed: 150 * ms, CPU: 20 * ms,
		Latencies: []time.Duration{3 * ms, 4 * ms}, Codes: map[int]int{202: 1, 503: 1}, FirstError: "b's"}
	p := Pool(a, b)
	if p.Target != "x" || p.Requests != 5 || p.Alerts != 7 || p.Elapsed != 250*ms || p.CPU != 50*ms {
		t.Errorf("pooled %+v", p)
	}
	if want := []time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 9 * ms}; !slices.Equal(p.Latencies, want) {
		t.Errorf("latencies %v, want %v", p.Latencies, want)
	}
	if p.Codes[202] != 4 || p.Codes[503] != 1 || p.Non2xx() != 1 || p.FirstError != "b's" {
		t.Errorf("codes %v, first error %q", p.Codes, p.FirstError)
	}
	if got := p.ReqPerSec(); got != 20 {
		t.Errorf("%v req/s, want 20 (5 in 250 ms)", got)
	}
	// The pooled median is the median of all the requests (3 ms), not of
	// the runs' medians (2 and 3 or 4 ms).
	if got := p.Quantile(.5); got != 3*ms {
		t.Errorf("pooled median %v, want 3ms", got)
	}
	if len(a.Latencies) != 3 || a.Latencies[2] != 9*ms {
		t.Errorf("Pool changed its input: %v", a.Latencies)
	}
}
