package app

import (
	"runtime/debug"

	"github.com/prometheus/common/version"
)

// fillVersion sets what -ldflags did not of the version package from the
// build info a plain `go build` records: the module version (a tag, or a
// pseudo-version from the VCS), else the revision; the revision and its date.
func fillVersion(bi *debug.BuildInfo) {
	var rev, date string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			date = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if version.Version == "" {
		switch v := bi.Main.Version; {
		case v != "" && v != "(devel)":
			version.Version = v
		case rev != "":
			version.Version = "devel-" + rev[:min(12, len(rev))]
			if modified {
				version.Version += "+dirty"
			}
		default:
			version.Version = "devel"
		}
	}
	if version.Revision == "" && rev != "" {
		version.Revision = rev
		if modified {
			version.Revision += "-modified"
		}
	}
	if version.BuildDate == "" {
		version.BuildDate = date
	}
}

// SetVersion fills what -ldflags did not set of prometheus/common/version
// from the build info that a plain `go build` records.
func SetVersion() {
	if bi, ok := debug.ReadBuildInfo(); ok {
		fillVersion(bi)
	}
}
