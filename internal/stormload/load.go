package stormload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is a webhook receiver under load.
type Target struct {
	Name string
	// URL is the webhook's URL, e.g. http://127.0.0.1:9099/api/v1/webhook.
	URL string
	// Token, if set, is sent as a bearer token.
	Token string
	// PID, if not 0, is the target's process: its CPU time and memory are
	// read from /proc.
	PID int
	// Accepted, if set, counts the 2xx answers as they come.
	Accepted *atomic.Int64
}

// Result is what one storm against one target measured.
type Result struct {
	Target      string
	Requests    int
	Alerts      int
	Elapsed     time.Duration
	Latencies   []time.Duration // sorted
	Codes       map[int]int     // by status code; 0 counts transport errors
	FirstError  string
	CPU         time.Duration // the target's user+system time during the storm
	RSS, PeakRS int64         // VmRSS after the storm and VmHWM (peak), bytes
	// Accepted are the notifications answered 2xx, by index.
	Accepted []bool
	// Start is when the run started (wall clock).
	Start time.Time
	// Sent and Took are when each notification was sent (since Start)
	// and how long its answer took, by index.
	Sent, Took []time.Duration
	// Dialed: the notification went on a new connection, by index.
	Dialed []bool
}

// ReqPerSec is requests per second.
func (r Result) ReqPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// CPUPerRequest is the target's CPU time a request, 0 if unknown.
func (r Result) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// Quantile returns the q quantile of the latencies (nearest rank).
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latencies))+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// Non2xx counts the answers that were not 2xx, transport errors included.
func (r Result) Non2xx() int {
	n := 0
	for c, k := range r.Codes {
		if c < 200 || c > 299 {
			n += k
		}
	}
	return n
}

// CodesString is the status codes and their counts, e.g. "202×10000".
func (r Result) CodesString() string {
	var cs []int
	for c := range r.Codes {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	var parts []string
	for _, c := range cs {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "error"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, r.Codes[c]))
	}
	return strings.Join(parts, " ")
}

// Run sends the notifications to the target from concurrency workers, each
// on its own keep-alive connection, every worker taking the next
// notification as soon as its previous one is answered (a closed loop, as
// Alertmanager's concurrent notifiers). The client is a minimal HTTP/1.1
// writer and reader, so that the load generator, which shares the CPUs with
// the target, costs as little as it can.
func Run(ctx context.Context, t Target, ns []Notification, concurrency int) (Result, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return Result{}, err
	}
	path := u.RequestURI()
	head := "POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: stormload\r\nContent-Type: application/json\r\n"
	if t.Token != "" {
		head += "Authorization: Bearer " + t.Token + "\r\n"
	}
	res := Result{Target: t.Name, Requests: len(ns), Codes: map[int]int{}, Accepted: make([]bool, len(ns))}
	for _, n := range ns {
		res.Alerts += n.Alerts
	}
	lat := make([]time.Duration, len(ns))
	sent := make([]time.Duration, len(ns))
	dialed := make([]bool, len(ns))
	codes := make([]int, len(ns))
	errs := make([]string, len(ns))
	var next atomic.Int64
	cpu0 := CPUTime(t.PID)
	start := time.Now()
	var wg sync.WaitGroup
	for range max(concurrency, 1) {
		wg.Go(func() {
			var c *conn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ns) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				sent[i] = t0.Sub(start)
				code, err := func() (int, error) {
					for attempt := 0; ; attempt++ {
						if c == nil {
							var err error
							dialed[i] = true
							if c, err = dial(ctx, u.Host); err != nil {
								return 0, err
							}
						}
						code, keep, err := c.post(head, ns[i].Body)
						if err == nil {
							if !keep {
								c.Close()
								c = nil
							}
							return code, nil
						}
						// A keep-alive connection the server closed while
						// idle: once more on a new one.
						used := c.used
						c.Close()
						c = nil
						if attempt > 0 || !used {
							return 0, err
						}
					}
				}()
				lat[i] = time.Since(t0)
				codes[i] = code
				if t.Accepted != nil && code >= 200 && code <= 299 {
					t.Accepted.Add(1)
				}
				if err != nil {
					errs[i] = err.Error()
				}
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.CPU = CPUTime(t.PID) - cpu0
	for i, c := range codes {
		res.Codes[c]++
		res.Accepted[i] = c >= 200 && c <= 299
		if errs[i] != "" && res.FirstError == "" {
			res.FirstError = errs[i]
		}
	}
	res.Start, res.Sent, res.Took, res.Dialed = start, sent, slices.Clone(lat), dialed
	slices.Sort(lat)
	res.Latencies = lat
	res.RSS, res.PeakRS = Memory(t.PID)
	return res, ctx.Err()
}

type conn struct {
	nc net.Conn
	br *bufio.Reader
	// used: a request was answered on it (so it is a keep-alive conn).
	used bool
}

func dial(ctx context.Context, host string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}, nil
}

func (c *conn) Close() { c.nc.Close() }

func (c *conn) post(head string, body []byte) (code int, keep bool, err error) {
	bufs := net.Buffers{[]byte(head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"), body}
	if _, err := bufs.WriteTo(c.nc); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, false, err
	}
	c.used = true
	return resp.StatusCode, !resp.Close, nil
}

// CPUTime returns the user+system CPU time of process pid, 0 if unknown.
func CPUTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command may hold spaces and parentheses: fields start after the
	// last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// Memory returns VmRSS and VmHWM (peak resident set) of process pid in
// bytes, 0 if unknown.
func Memory(pid int) (rss, peak int64) {
	if pid == 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n << 10
		case "VmHWM:":
			peak = n << 10
		}
	}
	return rss, peak
}

// WaitIdle waits until process pid used less than 2% of a CPU for window in
// a row, or until maxWait has passed; it returns how long it waited.
func WaitIdle(pid int, window, maxWait time.Duration) time.Duration {
	start := time.Now()
	if pid == 0 {
		return 0
	}
	for time.Since(start) < maxWait {
		c0 := CPUTime(pid)
		time.Sleep(window)
		if CPUTime(pid)-c0 <= window/50 {
			break
		}
	}
	return time.Since(start)
}

// LoadAvg returns /proc/loadavg's first three fields.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Header is the Markdown table header of Row.
const Header = "| round | target | req/s | alerts/s | p50 | p90 | p99 | max | non-2xx | codes | CPU per request | VmRSS after | peak RSS (VmHWM) | load before → after |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

// Row is the result as a Markdown table row, the round and the load averages
// before and after given.
func (r Result) Row(round int, loadBefore, loadAfter string) string {
	cpu := "?"
	if r.CPU > 0 && r.Requests > 0 {
		cpu = fmt.Sprintf("%.0f µs", float64(r.CPUPerRequest().Nanoseconds())/1e3)
	}
	return fmt.Sprintf("| %d | %s | %.0f | %.0f | %.2f ms | %.2f ms | **%.2f ms** | %.1f ms | %d | %s | %s | %s | %s | %s → %s |",
		round, r.Target, r.ReqPerSec(), float64(r.Alerts)/r.Elapsed.Seconds(),
		Millis(r.Quantile(.5)), Millis(r.Quantile(.9)), Millis(r.Quantile(.99)), Millis(r.Quantile(1)),
		r.Non2xx(), r.CodesString(), cpu, MiB(r.RSS), MiB(r.PeakRS), loadBefore, loadAfter)
}

// Slow says when the requests slower than the q quantile were sent: their
// count in each bin of the run, "start ms:count", bins without any left out.
func (r Result) Slow(q float64, bin time.Duration) string {
	limit := r.Quantile(q)
	counts := map[int]int{}
	fresh := 0
	for i, d := range r.Took {
		if d > limit {
			counts[int(r.Sent[i]/bin)]++
			if r.Dialed[i] {
				fresh++
			}
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d:%d", time.Duration(k)*bin/time.Millisecond, counts[k]))
	}
	var first []time.Duration
	for i, d := range r.Took {
		if r.Dialed[i] {
			first = append(first, d)
		}
	}
	slices.Sort(first)
	med := time.Duration(0)
	if len(first) > 0 {
		med = first[len(first)/2]
	}
	return strings.Join(parts, " ") + fmt.Sprintf(" (on a new connection: %d; the first requests of the connections took %v at the median)", fresh, med)
}

// Pool is the results of several runs against one target taken as one run:
// their requests, alerts, time, CPU and status codes summed, their
// latencies merged. Its p99 is the p99 of every request of the runs, not
// an average of the runs' p99s.
func Pool(rs ...Result) Result {
	var p Result
	p.Codes = map[int]int{}
	for _, r := range rs {
		if p.Target == "" {
			p.Target = r.Target
		}
		p.Requests += r.Requests
		p.Alerts += r.Alerts
		p.Elapsed += r.Elapsed
		p.CPU += r.CPU
		p.Latencies = append(p.Latencies, r.Latencies...)
		for c, n := range r.Codes {
			p.Codes[c] += n
		}
		if p.FirstError == "" {
			p.FirstError = r.FirstError
		}
	}
	slices.Sort(p.Latencies)
	return p
}

// Millis is d in milliseconds.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MiB formats a byte count in MiB, "?" for 0 (unknown).
func MiB(n int64) string {
	if n == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
