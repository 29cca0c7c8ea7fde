package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/internal/stormload"
)

// TestCrashInboxStorm SIGKILLs the daemon in the middle of webhook storms
// (concurrent requests: the inbox commits them in groups, and the
// remediator saves what alerts changed only once a second) and checks,
// after a restart, that every alert answered 2xx is in its service's open
// incident, and that no service has two: a 2xx means the batch was
// committed, and the restarted daemon replays what it had not saved yet.
// Each daemon life gets a storm of its own (alerts with a label of the
// life); the last life takes none and only checks, and that sessions ran
// for no more services than the blast radius allows, across the kills.
// Every other life runs with --webhook.inbox-fsync.
func TestCrashInboxStorm(t *testing.T) {
	stub := filepath.Join(t.TempDir(), "claude")
	writeFile(t, stub, stormStub)
	if err := os.Chmod(stub, 0o755); err != nil {
		t.Fatal(err)
	}
	api := fakeapi.Start(t, healthyTier1)
	d := newDirs(t)
	tf := filepath.Join(filepath.Dir(d.State), "webhook.token")
	writeFile(t, tf, "crash-storm-token\n")
	args := []string{"--schedule.interval=1h", "--webhook.token-file=" + tf, "--claude.path=" + stub,
		"--remediation.verify-timeout=1s", "--remediation.max-services-per-hour=2", "--log.level=warn"}
	const lives, services = 4, 200
	storm := stormload.Storm{Alerts: 3000, Services: services, PerRequest: 1, ResolvedShare: 0.1, Seed: 7}
	// The firing alerts answered 2xx: fingerprint → service. Those with a
	// resolved twin racing them are left out: the twin may close the
	// incident, whichever the daemon took first.
	accepted := map[string]string{}
	rng := rand.New(rand.NewPCG(7, 7))
	for life := range lives {
		flags := args
		if life%2 == 1 { // every other life fsyncs its inbox: the log is the same either way
			flags = append(slices.Clone(args), "--webhook.inbox-fsync")
		}
		dm := startDaemon(t, api, d, flags...)
		if life == lives-1 {
			checkAccepted(t, dm, accepted)
			checkBlastRadius(t, dm, 2) // --remediation.max-services-per-hour
			return
		}
		storm.Labels = map[string]string{"life": strconv.Itoa(life)} // alerts of their own
		ns := storm.Build(life + 1)
		// The kill comes after a random number of 2xx answers, in the
		// middle of the storm whatever the speed of the build (-race).
		after := int64(100 + rng.IntN(len(ns)/2))
		var answered atomic.Int64
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			for answered.Load() < after && !dm.exited() {
				time.Sleep(time.Millisecond)
			}
			dm.kill()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := stormload.Run(ctx, stormload.Target{Name: "claude-ops", URL: dm.URL + "/api/v1/webhook", Token: dm.Token, Accepted: &answered}, ns, 16)
		cancel()
		<-killed
		if err != nil {
			t.Fatal(err)
		}
		raced := map[string]bool{}
		for _, n := range ns {
			if n.Resolved {
				for _, fp := range n.Fingerprints {
					raced[fp] = true
				}
			}
		}
		n := 0
		for i, ok := range res.Accepted {
			if !ok {
				continue
			}
			n++
			for _, fp := range ns[i].Fingerprints {
				if !ns[i].Resolved && !raced[fp] {
					accepted[fp] = ns[i].Service
				}
			}
		}
		t.Logf("life %d: SIGKILL after %d answers: %d of %d notifications answered 2xx (%s)", life, after, n, len(ns), res.CodesString())
		if res.Non2xx() != res.Codes[0] {
			t.Errorf("life %d: answers other than 2xx before the kill: %s", life, res.CodesString())
		}
		if n == len(ns) {
			t.Errorf("life %d: the kill came after the storm", life)
		}
	}
}

// checkAccepted waits until every accepted alert is in the open incident of
// its service, and checks that no service has two open incidents.
func checkAccepted(t *testing.T, dm *daemon, accepted map[string]string) {
	t.Helper()
	if len(accepted) == 0 {
		t.Fatal("no alert was ever accepted: the kills came too early")
	}
	type incident struct {
		Service string `json:"service"`
		State   string `json:"state"`
		Alerts  []struct {
			Fingerprint string `json:"fingerprint"`
			Status      string `json:"status"`
		} `json:"alerts"`
	}
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for done := false; !done && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		code, body := dm.get(t, "/api/v1/incidents?state=open&limit=1000")
		if code != http.StatusOK {
			t.Fatalf("incidents: %d %s", code, body)
		}
		var list []incident
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("incidents: %v", err)
		}
		have := map[string]string{}
		perService := map[string]int{}
		for _, in := range list {
			if in.State == "closed" {
				continue
			}
			if perService[in.Service]++; perService[in.Service] > 1 {
				t.Fatalf("service %s has two open incidents", in.Service)
			}
			for _, a := range in.Alerts {
				have[a.Fingerprint] = in.Service
			}
		}
		missing = missing[:0]
		for fp, svc := range accepted {
			if have[fp] != svc {
				missing = append(missing, fp+" ("+svc+")")
			}
		}
		done = len(missing) == 0
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("%d alerts answered 2xx are in no open incident of their service, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	t.Logf("%d firing alerts answered 2xx, all in their service's open incident after the kills", len(accepted))
}

// checkBlastRadius checks that, over every life of the daemon, sessions of
// incidents ran for at most limit distinct services (all within the hour):
// the kills came before the incidents those sessions changed were saved,
// and each restart read back the services its sessions had started for.
func checkBlastRadius(t *testing.T, dm *daemon, limit int) {
	t.Helper()
	var out struct {
		Sessions []struct {
			ID         string `json:"id"`
			IncidentID string `json:"incident_id"`
			Service    string `json:"service"`
		} `json:"sessions"`
	}
	dm.getJSON(t, "/api/v1/sessions?limit=1000", &out)
	services := map[string]bool{}
	for _, s := range out.Sessions {
		if s.IncidentID == "" {
			continue
		}
		if s.Service == "" {
			t.Errorf("session %s of incident %s names no service", s.ID, s.IncidentID)
		}
		services[s.Service] = true
	}
	t.Logf("sessions of incidents ran for %d services (%d sessions in all)", len(services), len(out.Sessions))
	if len(services) == 0 || len(services) > limit {
		t.Errorf("sessions of incidents ran for %d services %v; want 1 to %d (the blast radius across restarts)", len(services), services, limit)
	}
}
