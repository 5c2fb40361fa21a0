package azure

import (
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// The tag names the registrar writes on gallery image versions (and, with
// underscores, as blob metadata), so that the catalog finds an image again.
const (
	TagRef    = "hardvm-ref"
	TagDigest = "hardvm-digest"
	TagStream = "hardvm-stream"
)

// Tags returns the Azure resource tags of an image: its Ref, stream and
// digest.
func Tags(r vm.Ref) map[string]string {
	t := map[string]string{TagRef: r.String(), TagStream: r.Stream()}
	if r.Digest != "" {
		t[TagDigest] = r.Digest.String()
	}
	return t
}

// metadata returns the tags as blob metadata, whose names must be C#
// identifiers (no hyphens).
func metadata(tags map[string]string) map[string]string {
	m := make(map[string]string, len(tags))
	for k, v := range tags {
		m[strings.ReplaceAll(k, "-", "_")] = v
	}
	return m
}

// versionName is the gallery image version of a Ref. Gallery versions are
// Major.Minor.Patch with 32-bit parts: the date, the time of day and the
// build number of the hardvm version.
func versionName(v vm.Version) string {
	s := v.String() // YYYYMMDD.hhmmss.N
	parts := strings.SplitN(s, ".", 3)
	return strings.TrimLeft(parts[0], "0") + "." + trimZero(parts[1]) + "." + parts[2]
}

func trimZero(s string) string {
	if t := strings.TrimLeft(s, "0"); t != "" {
		return t
	}
	return "0"
}
