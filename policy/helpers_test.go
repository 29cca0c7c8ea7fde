package policy

// decide returns the most dangerous step, the summary the tables check:
// Never > Redeploy > Restart > Mutating > ReadOnly; among equals an opaque
// step wins, then the first. No steps at all is Mutating (fail closed).
func decide(steps []Step) Step {
	if len(steps) == 0 {
		return Step{Kind: Mutating, Reason: "no command classified", Opaque: true}
	}
	best := steps[0]
	for _, s := range steps[1:] {
		if s.Kind.rank() > best.Kind.rank() || (s.Kind.rank() == best.Kind.rank() && s.Opaque && !best.Opaque) {
			best = s
		}
	}
	return best
}

// testReposDir is the repos folder classify assumes, and its working
// directory.
const testReposDir = "/repos"

// classify is Classifier.Classify with the repos dir and the working
// directory both testReposDir.
func classify(command string) []Step {
	return Classifier{ReposDir: testReposDir, Cwd: testReposDir}.Classify(command)
}
