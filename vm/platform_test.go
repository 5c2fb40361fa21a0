package vm

import (
	"strings"
	"testing"
)

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

// Every platform names the drivers of its root disk's controller and of
// its network devices, each once, and a serial console for each of its
// architectures; a spec adds its own drivers after the platform's.
func TestPlatformDrivers(t *testing.T) {
	for _, p := range Platforms() {
		if len(p.StorageDrivers) == 0 || len(p.NICDrivers) == 0 {
			t.Errorf("%s: storage drivers %v, NIC drivers %v", p.Cloud, p.StorageDrivers, p.NICDrivers)
		}
		seen := map[string]bool{}
		for _, d := range p.Drivers() {
			if seen[d] || !driverRe.MatchString(d) {
				t.Errorf("%s: driver %q repeated or not a module name", p.Cloud, d)
			}
			seen[d] = true
		}
		for _, a := range p.Arches {
			if p.Console(a) == "" {
				t.Errorf("%s/%s: no console", p.Cloud, a)
			}
		}
	}
	s := Spec{Platform: VMware, Arch: X86_64, Drivers: []string{"vmxnet3", "nvme"}}
	if got := s.BootDrivers(); strings.Join(got, " ") != "vmw_pvscsi sd_mod vmxnet3 nvme" {
		t.Errorf("BootDrivers = %v", got)
	}
	if c := (&Spec{Platform: QEMU, Arch: Aarch64}).Console(); c != "ttyAMA0" {
		t.Errorf("qemu/aarch64 console %q", c)
	}
	if c := (&Spec{Platform: AWS, Arch: Aarch64}).Console(); c != "ttyS0" {
		t.Errorf("aws/aarch64 console %q", c)
	}
	bad := Spec{Drivers: []string{"vmw pvscsi"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "drivers[0]") {
		t.Errorf("a bad driver name: %v", err)
	}
}
