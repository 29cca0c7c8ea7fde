// Rules of host tools: clocks, logs, mounts, a database admin, Alertmanager,
// interpreters.

package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

func mysqladminRule(c *call, _ string, a []arg) {
	for _, x := range a {
		if x.s == "password" || x.s == "drop" {
			c.never("mysqladmin " + x.s)
			return
		}
	}
	for _, x := range a {
		if x.lit && !strings.HasPrefix(x.s, "-") {
			switch x.s {
			case "ping", "status", "extended-status", "processlist", "variables", "version":
				continue
			}
			c.mutating("mysqladmin " + x.s)
			return
		}
	}
	c.readOnly("mysqladmin status")
}

func sleepRule(c *call, _ string, a []arg) {
	var total time.Duration
	for _, x := range a {
		d, ok := sleepDuration(x)
		if !ok {
			c.mutating("sleeps for an unbounded or unknown time")
			return
		}
		total += d
	}
	if total > maxSleep {
		c.mutating("sleeps longer than " + maxSleep.String())
		return
	}
	c.readOnly("sleep")
}

func dateRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "dfrsI", long: []string{"date", "file", "reference", "set"}})
	if o.has("-s", "--set") {
		c.mutating("sets the clock")
		return
	}
	c.readOnly("date")
}

func hostnameRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "F", long: []string{"file"}})
	if len(o.pos) > 0 || o.has("-F", "--file", "-b") {
		c.never("changes the host name (network configuration)")
		return
	}
	c.readOnly("host name")
}

func dmesgRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "FflnsT", long: []string{"file", "facility", "level", "console-level", "buffer-size", "time-format"}})
	if o.has("-c", "-C", "-D", "-E", "-n", "--clear", "--read-clear", "--console-off", "--console-on", "--console-level") {
		c.mutating("changes the kernel log")
		return
	}
	c.readOnly("kernel log")
}

func journalctlRule(c *call, _ string, a []arg) {
	for _, x := range a {
		if strings.HasPrefix(x.s, "--vacuum") || x.s == "--rotate" || x.s == "--flush" || x.s == "--sync" ||
			strings.Contains(x.s, "relinquish") || x.s == "--setup-keys" || x.s == "--update-catalog" {
			c.mutating("changes the journal")
			return
		}
	}
	c.readOnly("reads the journal")
}

func mountRule(c *call, _ string, a []arg) {
	if len(a) == 0 {
		c.readOnly("mount table")
		return
	}
	c.mutating("changes mounts")
}

func amtoolRule(c *call, _ string, a []arg) {
	if len(a) > 0 && (a[0].s == "alert" || a[0].s == "check-config" || a[0].s == "config") &&
		!slices.ContainsFunc(a, func(x arg) bool { return x.s == "add" }) {
		c.readOnly("alertmanager query")
		return
	}
	if len(a) > 1 && a[0].s == "silence" && (a[1].s == "query" || a[1].s == "q") {
		c.readOnly("alertmanager query")
		return
	}
	c.mutating("changes Alertmanager state")
}

func pythonRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "mWXQ"})
	if o.has("-V", "--version") && len(o.pos) == 0 {
		c.readOnly("interpreter version")
		return
	}
	c.mutating("runs a program the gate cannot inspect")
}

func sleepDuration(a arg) (time.Duration, bool) {
	if !a.lit || a.s == "" {
		return 0, false
	}
	s := a.s
	unit := time.Second
	switch s[len(s)-1] {
	case 's':
		s = s[:len(s)-1]
	case 'm':
		s, unit = s[:len(s)-1], time.Minute
	case 'h':
		s, unit = s[:len(s)-1], time.Hour
	case 'd':
		s, unit = s[:len(s)-1], 24*time.Hour
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0, false
	}
	return time.Duration(f * float64(unit)), true
}
