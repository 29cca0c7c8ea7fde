package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// pullTimeout bounds the image pull of Recreate.
const pullTimeout = 5 * time.Minute

// rollbackTimeout bounds putting the old container back after a failed
// Recreate, which runs even when ctx is done.
const rollbackTimeout = time.Minute

// Recreate redeploys a container that no manifest describes, as
// `docker compose up --force-recreate` would: it pulls the container's image
// (a failed pull is not fatal when the image is present locally), stops the
// container, renames it aside, creates a new container with the same name,
// Config (labels included), HostConfig, networks and anonymous volumes,
// starts it, then removes the old one (keeping its volumes). On a failure
// before the new container runs, the new one is removed and the old one gets
// its name back and is started again if it was running.
//
// It returns the new container's ID. When only the removal of the old
// container fails, it returns the new ID and an error.
func (e *Engine) Recreate(ctx context.Context, id string) (newID string, err error) {
	r, err := e.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("engine: recreate %s: %w", id, wrapNotFound(err))
	}
	old := r.Container
	if old.Config == nil || old.HostConfig == nil {
		return "", fmt.Errorf("engine: recreate %s: the engine returned no Config or HostConfig", id)
	}
	name := strings.TrimPrefix(old.Name, "/")
	fail := func(step string, err error) error {
		return fmt.Errorf("engine: recreate %s: %s: %w", name, step, wrapNotFound(err))
	}

	spec := recreateSpec(old)
	if err := e.pull(ctx, spec.config.Image); err != nil {
		return "", fail("pull", err)
	}

	wasRunning := old.State != nil && (old.State.Running || old.State.Restarting)
	if _, err := e.c.ContainerStop(ctx, old.ID, client.ContainerStopOptions{}); err != nil {
		return "", fail("stop", err)
	}
	aside := fmt.Sprintf("%s-replaced-%s", name, shortID(old.ID))
	if _, err := e.c.ContainerRename(ctx, old.ID, client.ContainerRenameOptions{NewName: aside}); err != nil {
		return "", errors.Join(fail("rename aside", err), e.rollback(ctx, "", old.ID, "", wasRunning))
	}
	undo := func(step, newID string, err error) (string, error) {
		return "", errors.Join(fail(step, err), e.rollback(ctx, newID, old.ID, name, wasRunning))
	}

	created, err := e.c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:             name,
		Config:           spec.config,
		HostConfig:       spec.hostConfig,
		NetworkingConfig: spec.networking,
	})
	if err != nil {
		return undo("create", "", err)
	}
	// API < 1.44 takes one network at create: connect the others before
	// the start.
	for _, n := range spec.extraNetworks {
		if _, err := e.c.NetworkConnect(ctx, n, client.NetworkConnectOptions{
			Container: created.ID, EndpointConfig: spec.endpoints[n],
		}); err != nil {
			return undo("connect network "+n, created.ID, err)
		}
	}
	if _, err := e.c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return undo("start", created.ID, err)
	}
	if _, err := e.c.ContainerRemove(ctx, old.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
		return created.ID, fmt.Errorf("engine: recreate %s: new container %s runs, but the old one (%s, now %s) was not removed: %w",
			name, shortID(created.ID), shortID(old.ID), aside, err)
	}
	return created.ID, nil
}

// rollback undoes a failed Recreate: it removes the new container (if
// any), gives the old one its name back (if it was renamed) and starts it
// again if it was running. It runs even when ctx is done.
func (e *Engine) rollback(ctx context.Context, newID, oldID, name string, start bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var errs []error
	if newID != "" {
		if _, err := e.c.ContainerRemove(ctx, newID, client.ContainerRemoveOptions{Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove new container %s: %w", shortID(newID), err))
		}
	}
	if name != "" {
		if _, err := e.c.ContainerRename(ctx, oldID, client.ContainerRenameOptions{NewName: name}); err != nil {
			errs = append(errs, fmt.Errorf("rename %s back to %s: %w", shortID(oldID), name, err))
		}
	}
	if start {
		if _, err := e.c.ContainerStart(ctx, oldID, client.ContainerStartOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("start old container %s: %w", shortID(oldID), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: rollback: %w", err)
	}
	return nil
}

// pull pulls ref. A failure is not fatal when the image is present
// locally: a host without a registry still redeploys what it has.
func (e *Engine) pull(ctx context.Context, ref string) error {
	pctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	resp, err := e.c.ImagePull(pctx, ref, client.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(pctx)
		resp.Close()
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if _, ierr := e.c.ImageInspect(ctx, ref); ierr == nil {
		return nil
	}
	return fmt.Errorf("%s: %w (and the image is not present locally)", ref, err)
}

// spec is what creates the new container of a Recreate.
type spec struct {
	config     *container.Config
	hostConfig *container.HostConfig
	networking *network.NetworkingConfig
	// extraNetworks are connected after the create, with their endpoints.
	extraNetworks []string
	endpoints     map[string]*network.EndpointSettings
}

// recreateSpec derives the new container's spec from the old one's inspect,
// dropping what the engine generated for the old container: its ID-derived
// hostname, its addresses and endpoint IDs.
func recreateSpec(old container.InspectResponse) spec {
	short := shortID(old.ID)
	cfg := *old.Config
	if cfg.Image == "" {
		cfg.Image = old.Image
	}
	if cfg.Hostname == short {
		// The engine named it after the old ID; let it name the new one.
		cfg.Hostname = ""
		// Podman also records HOSTNAME in Config.Env.
		cfg.Env = slices.DeleteFunc(slices.Clone(cfg.Env), func(kv string) bool { return kv == "HOSTNAME="+short })
	}
	cfg.Labels = maps.Clone(cfg.Labels)

	hc := *old.HostConfig
	hc.Mounts = append(slices.Clone(hc.Mounts), anonymousVolumes(old)...)
	hc.Ulimits = ulimits(hc.Ulimits)

	s := spec{config: &cfg, hostConfig: &hc, endpoints: map[string]*network.EndpointSettings{}}
	mode := hc.NetworkMode
	if mode.IsHost() || mode.IsNone() || mode.IsContainer() || old.NetworkSettings == nil {
		return s
	}
	var names []string
	for n, ep := range old.NetworkSettings.Networks {
		names = append(names, n)
		s.endpoints[n] = endpointConfig(ep, short)
	}
	if len(names) == 0 {
		return s
	}
	sort.Strings(names)
	primary := names[0]
	if _, ok := s.endpoints[string(mode)]; ok {
		primary = string(mode)
	}
	s.networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{primary: s.endpoints[primary]}}
	for _, n := range names {
		if n != primary {
			s.extraNetworks = append(s.extraNetworks, n)
		}
	}
	return s
}

// endpointConfig keeps what was asked of a network endpoint (static
// addresses, aliases, links, driver options) and drops what the engine
// assigned (IDs, dynamic addresses, the old short ID as an alias).
func endpointConfig(ep *network.EndpointSettings, oldShortID string) *network.EndpointSettings {
	if ep == nil {
		return &network.EndpointSettings{}
	}
	out := &network.EndpointSettings{
		Links:      slices.Clone(ep.Links),
		DriverOpts: maps.Clone(ep.DriverOpts),
		GwPriority: ep.GwPriority,
	}
	if ep.IPAMConfig != nil {
		ipam := *ep.IPAMConfig
		out.IPAMConfig = &ipam
	}
	for _, a := range ep.Aliases {
		if a != oldShortID {
			out.Aliases = append(out.Aliases, a)
		}
	}
	return out
}

// anonymousVolumes returns mounts that reattach the old container's
// anonymous volumes (a VOLUME of the image, `-v /data`) to the new one:
// without them the new container would get fresh, empty volumes.
func anonymousVolumes(old container.InspectResponse) []mount.Mount {
	if old.Config == nil || len(old.Config.Volumes) == 0 {
		return nil
	}
	explicit := map[string]bool{}
	if hc := old.HostConfig; hc != nil {
		for _, b := range hc.Binds {
			// src:dst[:opts]
			if parts := strings.Split(b, ":"); len(parts) >= 2 {
				explicit[parts[1]] = true
			}
		}
		for _, m := range hc.Mounts {
			explicit[m.Target] = true
		}
	}
	var out []mount.Mount
	for _, m := range old.Mounts {
		if m.Type != mount.TypeVolume || m.Name == "" || explicit[m.Destination] {
			continue
		}
		if _, declared := old.Config.Volumes[m.Destination]; !declared {
			continue
		}
		out = append(out, mount.Mount{Type: mount.TypeVolume, Source: m.Name, Target: m.Destination, ReadOnly: !m.RW})
	}
	return out
}

// ulimits renames Podman's inspect names ("RLIMIT_NOFILE"), which its own
// create rejects, to the API's ("nofile").
func ulimits(in []*container.Ulimit) []*container.Ulimit {
	if in == nil {
		return nil
	}
	out := make([]*container.Ulimit, 0, len(in))
	for _, u := range in {
		if u == nil {
			continue
		}
		c := *u
		c.Name = strings.ToLower(strings.TrimPrefix(c.Name, "RLIMIT_"))
		out = append(out, &c)
	}
	return out
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
