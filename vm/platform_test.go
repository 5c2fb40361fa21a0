package vm

import "testing"

// Every platform names at least one first-boot metadata source, each one
// the agent knows, and none twice: a platform without one would build
// images nobody can log in to.
func TestPlatformMetadataSources(t *testing.T) {
	for _, p := range Platforms() {
		if len(p.Metadata) == 0 {
			t.Errorf("%s: no metadata source", p.Cloud)
		}
		seen := map[MetadataSource]bool{}
		for _, m := range p.Metadata {
			if !m.Valid() || seen[m] {
				t.Errorf("%s: metadata source %q unknown or repeated", p.Cloud, m)
			}
			seen[m] = true
		}
	}
	if MetadataSource("cloud-init").Valid() {
		t.Error(`"cloud-init" accepted as a metadata source`)
	}
}
