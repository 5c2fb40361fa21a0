package main

import (
	"runtime/debug"
	"strings"
)

// version is hardvm's version as the Go build info records it: the module
// version (a release tag with go install …@vX.Y.Z, "(devel)" in a
// checkout), the VCS revision, its time and whether the tree was modified,
// and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown: no build info)"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var vcs []string
	if rev != "" {
		vcs = append(vcs, "revision "+rev)
	}
	if when != "" {
		vcs = append(vcs, when)
	}
	if dirty {
		vcs = append(vcs, "modified")
	}
	if len(vcs) > 0 {
		v += " (" + strings.Join(vcs, ", ") + ")"
	}
	return v + " " + bi.GoVersion
}
