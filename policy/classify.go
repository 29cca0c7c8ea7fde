// The exported API of the command classifier: kinds, steps and the
// Classifier entry points (command lines, file writes, file reads).

package policy

import "time"

// Kind is how dangerous one command is. The zero value is Mutating, so a Step
// built by mistake fails closed.
type Kind int

const (
	// Mutating changes something that is not one of the kinds below, or is a
	// command the classifier does not know (fail closed).
	Mutating Kind = iota
	// ReadOnly only observes (allowlisted commands with harmless arguments).
	ReadOnly
	// Restart restarts or (re)starts a container, unit or deployment.
	Restart
	// Redeploy recreates, rolls out or applies configuration (Tier 3 only).
	Redeploy
	// Never is refused at every tier (SPEC.md §2 "Never").
	Never
)

// String returns the kind's name, used as the action label of metrics.
func (k Kind) String() string {
	switch k {
	case ReadOnly:
		return "read_only"
	case Restart:
		return "restart"
	case Redeploy:
		return "redeploy"
	case Never:
		return "never"
	default:
		return "mutating"
	}
}

// MarshalText encodes a kind by name (JSON of decisions and logs).
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind's name; unknown names are Mutating.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "read_only":
		*k = ReadOnly
	case "restart":
		*k = Restart
	case "redeploy":
		*k = Redeploy
	case "never":
		*k = Never
	default:
		*k = Mutating
	}
	return nil
}

// rank orders kinds by danger: Never > Redeploy > Restart > Mutating > ReadOnly.
func (k Kind) rank() int {
	switch k {
	case ReadOnly:
		return 0
	case Restart:
		return 2
	case Redeploy:
		return 3
	case Never:
		return 4
	default:
		return 1
	}
}

// Step is one simple command found in a command line, after seeing through
// wrappers (sudo, ssh, sh -c, env, timeout, xargs, eval, ...).
type Step struct {
	Kind Kind
	// Service is what a Restart or Redeploy acts on: the container, unit,
	// deployment, release or compose service/project ("" = not known).
	Service string
	// Argv is the command as it would run; words that are not literal are
	// shown as written.
	Argv []string
	// Reason says why the step got its kind.
	Reason string
	// Opaque is set when what runs, or what it acts on, cannot be known from
	// the text: a command name from a variable, a script fed through a pipe, a
	// restart of "$(docker ps -q)". The gate refuses opaque steps at every
	// tier that is not ReadOnly: they cannot be checked or accounted for.
	Opaque bool
}

// Classifier classifies shell commands and file paths for the action gate.
type Classifier struct {
	// ReposDir is the mounted repos folder: nothing under it may be written.
	ReposDir string
	// Cwd is the working directory commands run in; "" means unknown, and a
	// relative path written to is then taken as possibly under ReposDir.
	Cwd string
}

// Limits that keep classification bounded on hostile input.
const (
	maxDepth    = 12
	maxSteps    = 512
	maxInput    = 256 << 10
	maxLoopVals = 32
	maxSleep    = 10 * time.Minute
	maxWork     = 20000
)

// Classify parses command with a real shell parser (bash dialect) and returns
// one step per simple command it would run, recursing into wrappers, shell
// strings (sh -c, eval, ssh remote commands, here-documents fed to shells),
// command substitutions, subshells, loops and functions. The result is never
// empty; anything unparseable or unknown is Mutating or opaque, never ReadOnly.
func (c Classifier) Classify(command string) []Step {
	w := &walker{repos: cleanAbs(c.ReposDir)}
	sc := newScope(c.Cwd)
	if len(command) > maxInput {
		w.add(Step{Kind: Mutating, Opaque: true, Argv: []string{truncate(command, 200)}, Reason: "command too long to check"})
	} else {
		w.script(command, sc, input{}, 0)
	}
	if len(w.steps) == 0 {
		w.steps = append(w.steps, Step{Kind: ReadOnly, Reason: "no command"})
	}
	return w.steps
}

// ClassifyWrite classifies writing (creating, editing, deleting) the file at
// p, relative paths taken against c.Cwd: Never under the repos dir, in data
// volumes, secrets, network configuration, the agent's own configuration or
// devices; otherwise Mutating.
func (c Classifier) ClassifyWrite(p string) Step {
	w := &walker{repos: cleanAbs(c.ReposDir)}
	sc := newScope(c.Cwd)
	k, reason, opaque := w.pathRisk(arg{s: p, lit: true}, sc, writeContent)
	st := Step{Kind: k, Argv: []string{p}, Reason: reason, Opaque: opaque}
	if k == Mutating && !opaque {
		abs, ok := sc.resolve(p)
		if (!ok || IsExecPath(abs)) && st.Reason == "writes "+p {
			st.Reason = "writes an executable, startup or privilege path"
		}
	}
	return st
}

// ClassifyRead classifies reading the file at p: Never for secret files
// (keys, .env, credentials), ReadOnly otherwise.
func (c Classifier) ClassifyRead(p string) Step {
	sc := newScope(c.Cwd)
	abs, ok := sc.resolve(p)
	if !ok {
		abs = p
	}
	if r := secretPath(abs); r != "" {
		return Step{Kind: Never, Argv: []string{p}, Reason: "reads " + r}
	}
	return Step{Kind: ReadOnly, Argv: []string{p}, Reason: "reads a file"}
}
