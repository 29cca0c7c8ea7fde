// Service managers: systemctl, service, supervisorctl and pm2.

package policy

import "strings"

func stripUnit(s string) string { return strings.TrimSuffix(s, ".service") }

func (c *call) systemctl(a []arg) {
	o := parseOpts(a, optSpec{short: "HMtspnoP", long: []string{"host", "machine", "type", "signal", "property", "lines", "output", "state", "root", "kill-whom", "kill-value", "job-mode", "what", "reboot-argument", "timestamp", "image", "drop-in", "message", "when"}})
	if len(o.pos) == 0 {
		c.readOnly("lists units")
		return
	}
	verb := o.pos[0]
	units := o.pos[1:]
	if !verb.lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "systemctl verb is not literal"})
		return
	}
	switch verb.s {
	case "restart", "reload-or-restart", "try-restart", "try-reload-or-restart", "condrestart", "force-reload",
		"reload", "start", "reload-or-try-restart":
		c.targets(Restart, "systemctl "+verb.s, units, stripUnit)
	case "status", "is-active", "is-failed", "is-enabled", "is-system-running", "show", "cat", "help",
		"get-default", "list-units", "list-unit-files", "list-timers", "list-sockets", "list-dependencies",
		"list-jobs", "list-machines", "list-automounts", "list-paths", "show-environment":
		c.readOnly("systemctl " + verb.s)
	default:
		c.mutating("systemctl " + verb.s)
	}
}

func (c *call) service(a []arg) {
	o := parseOpts(a, optSpec{})
	if o.has("--status-all", "-e", "-l", "--list") {
		c.readOnly("lists services")
		return
	}
	if len(o.pos) < 2 {
		c.mutating("service without an action")
		return
	}
	unit, verb := o.pos[0], o.pos[1]
	switch verb.s {
	case "restart", "reload", "force-reload", "try-restart", "condrestart", "start", "try-reload-or-restart":
		c.targets(Restart, "service "+verb.s, []arg{unit}, stripUnit)
	case "status":
		c.readOnly("service status")
	default:
		c.mutating("service " + verb.s)
	}
}
