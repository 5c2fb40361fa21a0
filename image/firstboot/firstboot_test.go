package firstboot

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

func platform(t *testing.T, c vm.Cloud) vm.Platform {
	t.Helper()
	p, err := vm.LookupPlatform(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Every platform and architecture gets the agent for its CPU and a unit
// that runs the platform's sources, in the table's order, before sshd.
func TestFilesPerPlatform(t *testing.T) {
	machines := map[vm.Arch]elf.Machine{vm.X86_64: elf.EM_X86_64, vm.Aarch64: elf.EM_AARCH64}
	for _, p := range vm.Platforms() {
		for _, arch := range p.Arches {
			files, err := Files(arch, p, WithUser("ops"))
			if err != nil {
				t.Fatalf("%s/%s: %v", p.Cloud, arch, err)
			}
			byPath := map[string]File{}
			for _, f := range files {
				byPath[f.Path] = f
			}
			prog := byPath[ProgramPath]
			if prog.Mode != 0o755 {
				t.Errorf("%s/%s: agent mode %v", p.Cloud, arch, prog.Mode)
			}
			ef, err := elf.NewFile(bytes.NewReader(prog.Data))
			if err != nil {
				t.Fatalf("%s/%s: agent is not ELF: %v", p.Cloud, arch, err)
			}
			if ef.Machine != machines[arch] || ef.Type != elf.ET_EXEC {
				t.Errorf("%s/%s: agent is %v %v, want a static %v executable", p.Cloud, arch, ef.Machine, ef.Type, machines[arch])
			}
			if ef.Section(".interp") != nil {
				t.Errorf("%s/%s: agent is dynamically linked", p.Cloud, arch)
			}
			u := string(byPath[UnitPath].Data)
			var names []string
			network := false
			for _, m := range p.Metadata {
				names = append(names, string(m))
				network = network || networkSource(m)
			}
			for _, want := range []string{
				"ExecStart=/usr/lib/hardvm/firstboot --source " + strings.Join(names, ",") + " --user ops\n",
				"Before=sshd.service ssh.service systemd-user-sessions.service\n",
				"RequiresMountsFor=/var/lib/hardvm\n",
				"WantedBy=multi-user.target\n",
			} {
				if !strings.Contains(u, want) {
					t.Errorf("%s/%s: unit lacks %q:\n%s", p.Cloud, arch, want, u)
				}
			}
			if strings.Contains(u, "network-online.target") != network {
				t.Errorf("%s: network-online.target in the unit = %v, want %v", p.Cloud, !network, network)
			}
			_, modules := byPath[ModulesLoadPath]
			if modules != (p.Cloud == vm.VMware) {
				t.Errorf("%s: modules-load.d file present = %v", p.Cloud, modules)
			}
		}
	}
}

// systemd itself reads the unit: every key known, every dependency
// resolvable, the ExecStart program executable. (The host's systemd and
// its unit files stand in for the image's; both are Debian bookworm's.)
func TestUnitVerifies(t *testing.T) {
	sa := testtool.Require(t, "systemd-analyze")
	for _, c := range []vm.Cloud{vm.QEMU, vm.Azure, vm.VMware} {
		root := t.TempDir()
		units := filepath.Join(root, "usr/lib/systemd/system")
		if err := os.MkdirAll(units, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", "/lib/systemd/system/.", units).CombinedOutput(); err != nil {
			t.Fatalf("copying the host's units: %v\n%s", err, out)
		}
		files, err := Files(vm.X86_64, platform(t, c), WithUser("ops"), WithEndpoint("http://169.254.169.254:8080"), WithDeadline(90*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(root, f.Path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
				t.Fatal(err)
			}
		}
		out, err := exec.Command(sa, "verify", "--man=no", "--root="+root, UnitName).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("%s: systemd-analyze verify: %v\n%s", c, err, out)
		}
	}
}

func TestFilesErrors(t *testing.T) {
	qemu := platform(t, vm.QEMU)
	cases := map[string]struct {
		arch vm.Arch
		p    vm.Platform
		opts []Option
		want error
	}{
		"bad user":       {vm.X86_64, qemu, []Option{WithUser("Ops; rm")}, ErrInvalid},
		"root-like user": {vm.X86_64, qemu, []Option{WithUser("-x")}, ErrInvalid},
		"unknown source": {vm.X86_64, qemu, []Option{WithSources("cloud-init")}, ErrUnsupported},
		"no sources":     {vm.X86_64, qemu, []Option{WithSources()}, ErrInvalid},
		"https endpoint": {vm.X86_64, qemu, []Option{WithEndpoint("https://169.254.169.254")}, ErrInvalid},
		"endpoint quote": {vm.X86_64, qemu, []Option{WithEndpoint("http://a\" --user root")}, ErrInvalid},
		"wire server":    {vm.X86_64, qemu, []Option{WithWireServer("ftp://x")}, ErrInvalid},
		"deadline":       {vm.X86_64, qemu, []Option{WithDeadline(0)}, ErrInvalid},
		"arch":           {"mips", vm.Platform{Metadata: qemu.Metadata}, nil, ErrUnsupported},
		"vmware on arm":  {vm.Aarch64, platform(t, vm.VMware), nil, ErrUnsupported},
		"no metadata":    {vm.X86_64, vm.Platform{Cloud: "x"}, nil, ErrUnsupported},
	}
	for name, tc := range cases {
		if _, err := Files(tc.arch, tc.p, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// WithSources overrides the table; options reach the command line.
func TestFilesOptions(t *testing.T) {
	files, err := Files(vm.X86_64, platform(t, vm.Azure), WithSources(vm.MetadataNoCloud, vm.MetadataAzure),
		WithEndpoint("http://10.0.2.2:8169"), WithWireServer("http://10.0.2.2:8170"), WithDeadline(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	u := string(files[1].Data)
	want := "ExecStart=/usr/lib/hardvm/firstboot --source nocloud,azure --endpoint http://10.0.2.2:8169 --wireserver http://10.0.2.2:8170 --deadline 2m0s\n"
	if !strings.Contains(u, want) {
		t.Errorf("unit lacks %q:\n%s", want, u)
	}
}

// The committed agent itself (not a fresh build) runs on this x86_64
// host: applied to a temporary root from a seed WriteNoCloudSeed made.
func TestEmbeddedAgentRuns(t *testing.T) {
	prog, err := Program(vm.X86_64)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "firstboot")
	if err := os.WriteFile(bin, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(dir, "seed.img")
	if err := WriteNoCloudSeedFile(t.Context(), seed, Seed{Hostname: "web-1", AuthorizedKeys: []string{testKeyEd25519}, UserData: []byte("#cloud-config\n")}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	out, err := exec.Command(bin, "--source", "nocloud", "--user", "ops", "--wait", "0s", "--root", root, "--devices", seed).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	keys, err := os.ReadFile(filepath.Join(root, AuthorizedKeysDir, "ops", "authorized_keys"))
	if err != nil || !strings.Contains(string(keys), testKeyEd25519) {
		t.Errorf("authorized_keys %q %v\n%s", keys, err, out)
	}
	if ud, err := os.ReadFile(filepath.Join(root, UserDataFile)); err != nil || string(ud) != "#cloud-config\n" {
		t.Errorf("user data %q %v", ud, err)
	}
}
