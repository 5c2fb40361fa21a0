package osconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// VarPartLabel is the GPT partition name of the /var partition
// image.Assemble makes on every disk; fstab mounts it by that name.
const VarPartLabel = "var"

// baseline writes the sysctl drop-in, the fstab of the writable file
// systems and, with systemd-repart in the image, the partition definition
// that grows /var to the disk's size at boot. Kernel arguments go on the
// boot command line (the boot step reads vm.Spec.KernelArgs).
func (s *state) baseline(b vm.Baseline, cfg *vm.Configuration) error {
	var sc strings.Builder
	fmt.Fprintf(&sc, "# hardvm hardening baseline for the %s family (sorts last: it wins).\n", b.Family)
	for _, c := range b.Sysctls {
		fmt.Fprintf(&sc, "# %s %s: %s\n%s = %s\n", c.Control.Benchmark, c.Control.ID, c.Control.Title, c.Key, c.Value)
	}
	if err := s.write("usr/lib/sysctl.d/99-hardvm-baseline.conf", []byte(sc.String()), 0o644); err != nil {
		return err
	}

	fstab, _ := s.t.ReadFile("etc/fstab")
	var f strings.Builder
	f.Write(fstab)
	if len(fstab) > 0 && fstab[len(fstab)-1] != '\n' {
		f.WriteByte('\n')
	}
	f.WriteString("# hardvm: the writable file systems, with the hardening baseline's options.\n")
	// fsck of /var at boot needs util-linux's fsck and e2fsprogs' fsck.ext4.
	pass := 0
	if s.binary("fsck") != "" && s.binary("fsck.ext4") != "" {
		pass = 2
	}
	for _, m := range b.Mounts {
		if m.Under != "" {
			continue
		}
		src, opts, p := m.FSType, slices.Clone(m.Options), 0
		if m.FSType != "tmpfs" {
			if m.Path != "/var" {
				return errf("mount %s: only /var and tmpfs mounts have storage (a %s partition would not exist)", m.Path, m.FSType)
			}
			src, p = "PARTLABEL="+VarPartLabel, pass
			// Grown online to its partition, which systemd-repart grows to
			// the disk.
			opts = append(opts, "x-systemd.growfs")
		}
		line := fmt.Sprintf("%s %s %s %s 0 %d", src, m.Path, m.FSType, strings.Join(opts, ","), p)
		fmt.Fprintf(&f, "# %s %s: %s\n%s\n", m.Control.Benchmark, m.Control.ID, m.Control.Title, line)
		cfg.Fstab = append(cfg.Fstab, line)
	}
	if err := s.write("etc/fstab", []byte(f.String()), 0o644); err != nil {
		return err
	}
	if s.binary("systemd-repart") != "" {
		const repart = "# hardvm: grow the /var partition to the end of the disk at boot (a disk\n# launched larger than the image). Other partitions match no definition\n# and are left alone.\n[Partition]\nType=var\nLabel=" + VarPartLabel + "\n"
		if err := s.write("usr/lib/repart.d/50-hardvm-var.conf", []byte(repart), 0o644); err != nil {
			return err
		}
	}
	return nil
}
