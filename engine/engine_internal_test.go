package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/stringid"
)

func TestTailWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"empty", 8, nil, ""},
		{"fits", 8, []string{"abc", "def"}, "abcdef"},
		{"exact", 8, []string{"abcd", "efgh"}, "abcdefgh"},
		{"keeps the end", 8, []string{"abcd", "efgh", "ij"}, "cdefghij"},
		{"one big write", 4, []string{"abcdefgh"}, "efgh"},
		{"many writes", 4, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, "ghij"},
		{"big then small", 4, []string{"abcdefgh", "i"}, "fghi"},
		{"whole runes", 4, []string{"xé", "abc"}, "abc"}, // "\xa9abc" would start mid-rune
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &tailWriter{max: tc.max}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if got := w.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{-1, "nil"},
		{0, "0"},
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{time.Minute, "60"},
	} {
		got := "nil"
		if p := seconds(tc.in); p != nil {
			got = fmt.Sprint(*p)
		}
		if got != tc.want {
			t.Errorf("seconds(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-12-06T09:20:09.601727469Z": time.Date(2026, 12, 6, 9, 20, 9, 601727469, time.UTC),
		"0001-01-01T00:00:00Z":           {},
		"":                               {},
		"garbage":                        {},
	} {
		if got := parseTime(in); !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestFromInspect(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   container.InspectResponse
		want Container
	}{
		{
			name: "docker, no healthcheck",
			in: container.InspectResponse{
				ID: "abc", Name: "/web", Image: "sha256:1", RestartCount: 2,
				State:  &container.State{Status: "running", StartedAt: "2026-01-02T03:04:05Z"},
				Config: &container.Config{Image: "nginx:1", Labels: map[string]string{LabelComposeService: "web", LabelComposeProject: "demo"}},
			},
			want: Container{
				ID: "abc", Name: "web", Image: "nginx:1", State: "running", RestartCount: 2,
				StartedAt:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				ComposeService: "web", ComposeProject: "demo",
				Labels: map[string]string{LabelComposeService: "web", LabelComposeProject: "demo"},
			},
		},
		{
			name: "podman, no healthcheck",
			in: container.InspectResponse{
				ID: "abc", Name: "/web", Image: "sha256:1",
				State: &container.State{Status: "exited", StartedAt: "0001-01-01T00:00:00Z", Health: &container.Health{}},
			},
			want: Container{ID: "abc", Name: "web", Image: "sha256:1", State: "exited", Labels: map[string]string{}},
		},
		{
			name: "healthy",
			in: container.InspectResponse{
				ID: "abc", Name: "/web",
				State: &container.State{Status: "running", Health: &container.Health{Status: container.Healthy}},
			},
			want: Container{ID: "abc", Name: "web", State: "running", Health: "healthy", Labels: map[string]string{}},
		},
		{
			name: "health none",
			in: container.InspectResponse{
				ID: "abc", Name: "/web",
				State: &container.State{Status: "running", Health: &container.Health{Status: container.NoHealthcheck}},
			},
			want: Container{ID: "abc", Name: "web", State: "running", Labels: map[string]string{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromInspect(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRecreateSpec(t *testing.T) {
	id := stringid.GenerateRandomID()
	short := id[:12]
	base := func() container.InspectResponse {
		return container.InspectResponse{
			ID: id, Name: "/web", Image: "sha256:img",
			Config: &container.Config{
				Hostname: short, Image: "nginx:1",
				Env:     []string{"A=1", "HOSTNAME=" + short},
				Labels:  map[string]string{LabelComposeService: "web"},
				Volumes: map[string]struct{}{"/data": {}, "/named": {}, "/bound": {}},
			},
			HostConfig: &container.HostConfig{
				NetworkMode: "front",
				Binds:       []string{"vol:/named", "/srv:/bound:ro"},
				Resources: container.Resources{
					Ulimits: []*container.Ulimit{{Name: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}, {Name: "nproc", Soft: 1, Hard: 2}},
				},
			},
			Mounts: []container.MountPoint{
				{Type: mount.TypeVolume, Name: "anon123", Destination: "/data", RW: true},
				{Type: mount.TypeVolume, Name: "vol", Destination: "/named", RW: true},
				{Type: mount.TypeBind, Source: "/srv", Destination: "/bound"},
			},
			NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{
				"front": {
					Aliases: []string{"web", short}, NetworkID: "n1", EndpointID: "e1",
					IPAddress: netip.MustParseAddr("10.0.0.2"), DNSNames: []string{"web", short},
				},
				"back": {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.1.0.9")}, EndpointID: "e2"},
			}},
		}
	}

	t.Run("bridge networks", func(t *testing.T) {
		s := recreateSpec(base())
		if s.config.Hostname != "" || !reflect.DeepEqual(s.config.Env, []string{"A=1"}) {
			t.Errorf("hostname %q env %v: want the ID-derived ones dropped", s.config.Hostname, s.config.Env)
		}
		if s.config.Image != "nginx:1" || s.config.Labels[LabelComposeService] != "web" {
			t.Errorf("config %+v", s.config)
		}
		wantMounts := []mount.Mount{{Type: mount.TypeVolume, Source: "anon123", Target: "/data"}}
		if !reflect.DeepEqual(s.hostConfig.Mounts, wantMounts) {
			t.Errorf("mounts %+v, want %+v", s.hostConfig.Mounts, wantMounts)
		}
		if got := fmt.Sprint(s.hostConfig.Ulimits[0].Name, s.hostConfig.Ulimits[1].Name); got != "nofilenproc" {
			t.Errorf("ulimit names %s", got)
		}
		front := s.networking.EndpointsConfig["front"]
		if len(s.networking.EndpointsConfig) != 1 || front == nil {
			t.Fatalf("create networks %v, want front only", s.networking.EndpointsConfig)
		}
		if !reflect.DeepEqual(front, &network.EndpointSettings{Aliases: []string{"web"}}) {
			t.Errorf("front endpoint %+v", front)
		}
		if !reflect.DeepEqual(s.extraNetworks, []string{"back"}) ||
			s.endpoints["back"].IPAMConfig.IPv4Address.String() != "10.1.0.9" || s.endpoints["back"].EndpointID != "" {
			t.Errorf("extra %v %+v", s.extraNetworks, s.endpoints["back"])
		}
		// The old inspect is not modified.
		if old := base(); old.Config.Hostname != short || len(old.HostConfig.Mounts) != 0 {
			t.Error("base mutated")
		}
	})
	t.Run("host network, own hostname", func(t *testing.T) {
		old := base()
		old.HostConfig.NetworkMode = "host"
		old.Config.Hostname = "box"
		old.Config.Env = []string{"HOSTNAME=box"}
		s := recreateSpec(old)
		if s.networking != nil || len(s.extraNetworks) != 0 {
			t.Errorf("host network: %+v %v", s.networking, s.extraNetworks)
		}
		if s.config.Hostname != "box" || !reflect.DeepEqual(s.config.Env, []string{"HOSTNAME=box"}) {
			t.Errorf("hostname %q env %v: want them kept", s.config.Hostname, s.config.Env)
		}
	})
	t.Run("json round trip", func(t *testing.T) {
		// What the client will send: no operational data.
		s := recreateSpec(base())
		b, err := json.Marshal(s.networking)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "10.0.0.2") || strings.Contains(string(b), "e1") {
			t.Errorf("operational data sent: %s", b)
		}
	})
}

func TestEngineName(t *testing.T) {
	for _, tc := range []struct {
		platform, comp, want string
	}{
		{"Docker Engine - Community", "Engine", "Docker Engine - Community"},
		{"linux/amd64/debian-12", "Podman Engine", "Podman Engine"},
		{"", "Engine", "Engine"},
		{"", "", "unknown engine"},
	} {
		v := client.ServerVersionResult{Platform: client.PlatformInfo{Name: tc.platform}}
		if tc.comp != "" {
			v.Components = []system.ComponentVersion{{Name: tc.comp}}
		}
		if got := engineName(v); got != tc.want {
			t.Errorf("engineName(%q, %q) = %q, want %q", tc.platform, tc.comp, got, tc.want)
		}
	}
}

func TestWrapNotFound(t *testing.T) {
	nf := cerrdefs.ErrNotFound.WithMessage("no such container")
	if err := wrapNotFound(nf); !errors.Is(err, ErrNotFound) || !cerrdefs.IsNotFound(err) || !strings.Contains(err.Error(), "no such container") {
		t.Errorf("wrapNotFound(not found) = %v", err)
	}
	other := errors.New("boom")
	if err := wrapNotFound(other); !errors.Is(err, other) || errors.Is(err, ErrNotFound) {
		t.Errorf("wrapNotFound(other) = %v", err)
	}
	if wrapNotFound(nil) != nil {
		t.Error("wrapNotFound(nil) != nil")
	}
}
