// Container tools: docker, podman, nerdctl, docker compose, stacks and
// services.

package policy

import (
	"path"
	"slices"
	"strings"
)

var dockerGlobal = optSpec{short: "Hcl", long: []string{"host", "context", "config", "log-level", "tlscacert", "tlscert", "tlskey"}, stop: true}

func (c *call) docker(a []arg) {
	g := parseOpts(a, dockerGlobal)
	if len(g.pos) == 0 {
		c.readOnly("docker without a command")
		return
	}
	sub := g.pos[0]
	rest := g.pos[1:]
	if !sub.lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "docker subcommand is not literal"})
		return
	}
	s := sub.s
	// Management commands: docker container restart == docker restart.
	if s == "container" && len(rest) > 0 {
		s, rest = rest[0].s, rest[1:]
		if s == "ls" || s == "list" {
			s = "ps"
		}
		if s == "remove" {
			s = "rm"
		}
		if s == "prune" {
			c.mutating("removes stopped containers")
			return
		}
	}
	switch s {
	case "ps", "inspect", "logs", "stats", "top", "images", "info", "version", "port", "events", "diff",
		"history", "search", "wait":
		c.readOnly("docker " + s)
	case "restart", "start":
		o := parseOpts(rest, optSpec{short: "tsa", long: []string{"time", "timeout", "signal", "detach-keys", "checkpoint", "checkpoint-dir"}})
		c.targets(Restart, "docker "+s, o.pos, nil)
	case "rm":
		o := parseOpts(rest, optSpec{})
		if o.has("-v", "--volumes") {
			c.never("removes containers with their volumes")
			return
		}
		c.mutating("removes containers")
	case "compose":
		c.compose(rest)
	case "volume":
		if len(rest) > 0 {
			switch rest[0].s {
			case "ls", "list", "inspect":
				c.readOnly("docker volume " + rest[0].s)
				return
			case "create":
				c.mutating("creates a volume")
				return
			}
		}
		c.never("deletes data volumes")
	case "system":
		if len(rest) > 0 && (rest[0].s == "df" || rest[0].s == "info" || rest[0].s == "events") {
			c.readOnly("docker system " + rest[0].s)
			return
		}
		c.never("docker system " + firstWord(rest) + " removes data")
	case "network":
		if len(rest) > 0 {
			switch rest[0].s {
			case "ls", "list", "inspect":
				c.readOnly("docker network " + rest[0].s)
				return
			case "rm", "remove", "prune":
				c.never("changes network configuration")
				return
			}
		}
		c.mutating("changes container networks")
	case "image", "builder", "buildx":
		if len(rest) > 0 && (rest[0].s == "ls" || rest[0].s == "list" || rest[0].s == "inspect" || rest[0].s == "history") {
			c.readOnly("docker image " + rest[0].s)
			return
		}
		c.mutating("changes images")
	case "secret":
		if len(rest) > 0 && (rest[0].s == "ls" || rest[0].s == "inspect") {
			c.readOnly("docker secret " + rest[0].s)
			return
		}
		c.never("changes secrets")
	case "context", "config", "node", "plugin", "swarm", "trust", "manifest":
		if len(rest) > 0 && (rest[0].s == "ls" || rest[0].s == "list" || rest[0].s == "inspect" || rest[0].s == "show" || rest[0].s == "ps") {
			c.readOnly("docker " + s + " " + rest[0].s)
			return
		}
		c.mutating("docker " + s)
	case "exec":
		o := parseOpts(rest, optSpec{short: "euw", long: []string{"env", "env-file", "user", "workdir", "detach-keys"}, stop: true})
		if len(o.pos) < 2 {
			c.mutating("docker exec without a command")
			return
		}
		c.w.argv(o.pos[1:], remoteScope(), c.in, c.depth+1, c.appended)
	case "run", "create":
		c.dockerRun(rest)
	case "cp":
		o := parseOpts(rest, optSpec{})
		if len(o.pos) == 2 && !strings.Contains(o.pos[1].s, ":") {
			c.writes(o.pos[1:], writeContent, "docker cp writes host files")
			return
		}
		c.mutating("docker cp")
	case "stack":
		c.dockerStack(rest)
	case "service":
		c.dockerService(rest)
	case "pod":
		if len(rest) > 0 && (rest[0].s == "restart" || rest[0].s == "start") {
			o := parseOpts(rest[1:], optSpec{short: "t", long: []string{"time"}})
			c.targets(Restart, "pod "+rest[0].s, o.pos, nil)
			return
		}
		if len(rest) > 0 && (rest[0].s == "ps" || rest[0].s == "ls" || rest[0].s == "list" || rest[0].s == "inspect" || rest[0].s == "logs" || rest[0].s == "top" || rest[0].s == "stats") {
			c.readOnly("pod " + rest[0].s)
			return
		}
		c.mutating("pod " + firstWord(rest))
	case "login", "logout", "pull", "push", "build", "tag", "load", "save", "import", "export", "commit",
		"stop", "kill", "pause", "unpause", "rename", "update", "attach", "rmi", "prune":
		c.mutating("docker " + s)
	default:
		c.mutating("docker " + s + " is not known to be read-only")
	}
}

func (c *call) dockerRun(rest []arg) {
	o := parseOpts(rest, optSpec{short: "aceEhlmpPuvwt", long: []string{"volume", "mount", "env", "env-file", "name", "network", "net", "user", "workdir", "entrypoint", "label", "publish", "expose", "hostname", "memory", "cpus", "restart", "add-host", "device", "cap-add", "cap-drop", "pid", "ipc", "uts", "userns", "volumes-from", "log-driver", "log-opt", "platform", "pull", "security-opt", "tmpfs", "ulimit", "dns", "runtime", "gpus", "health-cmd", "stop-signal", "shm-size", "cgroupns", "cidfile"}, stop: true})
	if o.has("--privileged") {
		c.never("a privileged container escapes every check")
		return
	}
	for _, k := range []string{"--pid", "--ipc", "--uts", "--userns", "--cgroupns"} {
		if v, ok := o.get(k); ok && v == "host" {
			c.never("a container sharing the host's namespaces escapes every check")
			return
		}
	}
	var mounts []string
	for k, v := range o.set {
		if k == "-v" || k == "--volume" || k == "--mount" {
			mounts = append(mounts, v)
		}
	}
	// Only the last -v survives in the map; scan the raw words for the rest.
	for i, x := range rest {
		if (x.s == "-v" || x.s == "--volume" || x.s == "--mount") && i+1 < len(rest) {
			mounts = append(mounts, rest[i+1].s)
		} else if strings.HasPrefix(x.s, "--volume=") || strings.HasPrefix(x.s, "--mount=") || (strings.HasPrefix(x.s, "-v") && len(x.s) > 2) {
			_, v, _ := strings.Cut(x.s, "=")
			if strings.HasPrefix(x.s, "-v") && !strings.HasPrefix(x.s, "--") {
				v = x.s[2:]
			}
			mounts = append(mounts, v)
		}
	}
	for _, m := range mounts {
		src, ro := mountSource(m)
		if !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "~") {
			continue // a named volume
		}
		if strings.Contains(src, "docker.sock") || strings.Contains(src, "containerd.sock") || strings.Contains(src, "podman.sock") {
			c.never("mounting the container runtime's socket escapes every check")
			return
		}
		if ro {
			continue
		}
		if k, r, _ := c.w.pathRisk(arg{s: src, lit: true}, c.sc, destroy); k == Never {
			c.never("mounts a protected path writable: " + r)
			return
		}
	}
	c.mutating("starts a new container")
}

// mountSource returns the host side of a -v or --mount value and whether it
// is read-only.
func mountSource(m string) (string, bool) {
	if strings.Contains(m, "source=") || strings.Contains(m, "src=") {
		src, ro := "", false
		for _, kv := range strings.Split(m, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "source", "src":
				src = v
			case "readonly", "ro":
				ro = v == "" || v == "true" || v == "1"
			}
		}
		return src, ro
	}
	parts := strings.Split(m, ":")
	ro := len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro")
	return parts[0], ro
}

func (c *call) dockerStack(rest []arg) {
	if len(rest) == 0 {
		c.readOnly("docker stack")
		return
	}
	switch rest[0].s {
	case "deploy", "up":
		o := parseOpts(rest[1:], optSpec{short: "c", long: []string{"compose-file", "resolve-image", "orchestrator"}})
		c.targets(Redeploy, "docker stack deploy", o.pos, nil)
	case "ls", "list", "ps", "services", "config":
		c.readOnly("docker stack " + rest[0].s)
	default:
		c.mutating("docker stack " + rest[0].s)
	}
}

func (c *call) dockerService(rest []arg) {
	if len(rest) == 0 {
		c.readOnly("docker service")
		return
	}
	switch rest[0].s {
	case "ls", "list", "ps", "inspect", "logs":
		c.readOnly("docker service " + rest[0].s)
	case "update":
		o := parseOpts(rest[1:], optSpec{short: "", long: []string{"image", "env-add", "env-rm", "replicas", "label-add", "label-rm", "secret-add", "secret-rm", "config-add", "config-rm", "publish-add", "publish-rm", "mount-add", "mount-rm", "network-add", "network-rm", "update-parallelism", "update-delay", "update-order", "update-failure-action", "rollback-parallelism", "limit-cpu", "limit-memory", "reserve-cpu", "reserve-memory", "args", "entrypoint", "user", "workdir", "constraint-add", "constraint-rm", "health-cmd", "stop-grace-period", "container-label-add", "container-label-rm"}})
		if o.has("--secret-add", "--secret-rm") {
			c.never("changes secrets")
			return
		}
		restartOnly := o.has("--force")
		for k := range o.set {
			if k != "--force" && k != "-d" && k != "--detach" && k != "-q" && k != "--quiet" {
				restartOnly = false
			}
		}
		if restartOnly {
			c.targets(Restart, "docker service update --force", o.pos, nil)
			return
		}
		c.targets(Redeploy, "docker service update", o.pos, nil)
	case "rollback":
		o := parseOpts(rest[1:], optSpec{})
		c.targets(Redeploy, "docker service rollback", o.pos, nil)
	default:
		c.mutating("docker service " + rest[0].s)
	}
}

func (c *call) compose(a []arg) {
	g := parseOpts(a, optSpec{short: "fp", long: []string{"file", "project-name", "project-directory", "env-file", "profile", "ansi", "progress", "parallel"}, stop: true})
	project := ""
	if v, ok := g.get("-p", "--project-name"); ok {
		project = v
	} else if v, ok := g.get("--project-directory"); ok {
		project = path.Base(path.Clean(v))
	} else if v, ok := g.get("-f", "--file"); ok && strings.Contains(v, "/") {
		project = path.Base(path.Dir(path.Clean(v)))
	}
	if g.has("--dry-run") {
		c.readOnly("compose --dry-run")
		return
	}
	if len(g.pos) == 0 {
		c.readOnly("compose without a command")
		return
	}
	sub, rest := g.pos[0], g.pos[1:]
	if !sub.lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "compose subcommand is not literal"})
		return
	}
	svcs := func(spec optSpec) []arg {
		o := parseOpts(rest, spec)
		if len(o.pos) == 0 && project != "" {
			return lits(project)
		}
		return o.pos
	}
	switch sub.s {
	case "ps", "logs", "config", "convert", "images", "ls", "top", "version", "port", "events", "stats", "wait":
		c.readOnly("compose " + sub.s)
	case "restart", "start":
		c.targets(Restart, "compose "+sub.s, svcs(optSpec{short: "t", long: []string{"timeout"}}), nil)
	case "up":
		c.targets(Redeploy, "compose up (re)creates containers", svcs(optSpec{short: "t", long: []string{"scale", "timeout", "exit-code-from", "attach", "no-attach", "pull", "wait-timeout"}}), nil)
	case "down":
		o := parseOpts(rest, optSpec{short: "t", long: []string{"rmi", "timeout"}})
		if o.has("-v", "--volumes") {
			c.never("compose down removes volumes")
			return
		}
		c.mutating("compose down stops and removes containers")
	case "rm":
		o := parseOpts(rest, optSpec{})
		if o.has("-v", "--volumes") {
			c.never("compose rm removes volumes")
			return
		}
		c.mutating("compose rm removes containers")
	case "exec":
		o := parseOpts(rest, optSpec{short: "euw", long: []string{"env", "user", "workdir", "index"}, stop: true})
		if len(o.pos) < 2 {
			c.mutating("compose exec without a command")
			return
		}
		c.w.argv(o.pos[1:], remoteScope(), c.in, c.depth+1, c.appended)
	case "run":
		c.mutating("compose run starts a new container")
	default:
		c.mutating("compose " + sub.s)
	}
}
