package guest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/vm"
)

func TestMain(m *testing.M) {
	vmtest.MaybeRelay()
	os.Exit(m.Run())
}

const (
	mib    = 1 << 20
	espOff = 1 * mib
)

// output makes a build output of a 4 MiB disk whose ESP (1 MiB at 1 MiB)
// holds a pattern, exported as every platform's format with the tools the
// platforms' users have (qemu-img, tar), as hardvm.Build lays them out.
func output(t *testing.T) (*hardvm.Output, []byte) {
	t.Helper()
	testtool.Require(t, "qemu-img", "tar", "genisoimage", "isoinfo", "mtype", "mlabel")
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	esp := bytes.Repeat([]byte("hardvm-esp\x00"), mib/11+1)[:mib]
	disk := make([]byte, 4*mib)
	copy(disk[espOff:], esp)
	if err := os.WriteFile(raw, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, filepath.Join(dir, "disk.qcow2"))
	run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", raw, filepath.Join(dir, "disk.vhd"))
	run("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, filepath.Join(dir, "disk.vmdk"))
	run("tar", "-C", dir, "-czSf", filepath.Join(dir, "disk.tar.gz"), "disk.raw")
	run("tar", "-C", dir, "-cf", filepath.Join(dir, "disk.ova"), "disk.vmdk")
	o := &hardvm.Output{Dir: dir, Disk: &image.Disk{Path: raw, Size: int64(len(disk)),
		Partitions: []image.Partition{{Name: "esp", Offset: espOff, Size: mib}}}}
	for f, name := range map[vm.DiskFormat]string{vm.FormatRaw: "disk.raw", vm.FormatQCOW2: "disk.qcow2", vm.FormatVHD: "disk.vhd",
		vm.FormatGCE: "disk.tar.gz", vm.FormatOVA: "disk.ova"} {
		o.Artifacts = append(o.Artifacts, artifact.Artifact{Format: f, Path: filepath.Join(dir, name)})
	}
	return o, esp
}

// target returns the host address a guestfwd option of cfg relays guest
// (IP:PORT) to.
func target(t *testing.T, cfg vmtest.Config, guest string) string {
	t.Helper()
	for _, o := range cfg.Net {
		if rest, ok := strings.CutPrefix(o, "guestfwd=tcp:"+guest+"-cmd:env "+vmtest.RelayEnv+"="); ok {
			addr, _, _ := strings.Cut(rest, " ")
			return addr
		}
	}
	t.Fatalf("no guestfwd to %s in %q", guest, cfg.Net)
	return ""
}

func get(t *testing.T, method, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// backing returns the backing file and its format of a qcow2 overlay, as
// qemu-img info says.
func backing(t *testing.T, overlay string) (string, string) {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", overlay).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", overlay, err)
	}
	var info struct {
		Format  string `json:"format"`
		Backing string `json:"full-backing-filename"`
		BFormat string `json:"backing-filename-format"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Format != "qcow2" {
		t.Fatalf("qemu-img info %s: %s (%v)", overlay, out, err)
	}
	return info.Backing, info.BFormat
}

// isoFile returns a file of an ISO 9660 volume (Joliet names) and the
// volume's label, read with isoinfo.
func isoFile(t *testing.T, iso, path string) (string, string) {
	t.Helper()
	data, err := exec.Command("isoinfo", "-i", iso, "-J", "-x", path).Output()
	if err != nil {
		t.Fatalf("isoinfo -x %s %s: %v", path, iso, err)
	}
	d, err := exec.Command("isoinfo", "-d", "-i", iso).Output()
	if err != nil {
		t.Fatalf("isoinfo -d %s: %v", iso, err)
	}
	label := regexp.MustCompile(`(?m)^Volume id: (.*)$`).FindStringSubmatch(string(d))
	if label == nil {
		t.Fatalf("isoinfo -d %s: no volume id:\n%s", iso, d)
	}
	return string(data), strings.TrimSpace(label[1])
}

// TestNewPerPlatform makes a machine of each platform from one build and
// checks, without booting it, what the machine would get: the overlay of
// the disk in the platform's format (unpacked from GCE's tar.gz and the
// OVA, as qemu-img info reads it), the platform's controller, NIC and
// SMBIOS identity, and its metadata carrying the host name, the login
// key and the user data: the fakes answer through the relay targets of
// the guestfwd options, the fw_cfg values decode, the config drive and the
// NoCloud seed hold the documents (isoinfo and mtools read them).
func TestNewPerPlatform(t *testing.T) {
	o, esp := output(t)
	ctx := context.Background()
	ud := []byte("#hardvm-config\ncontainerd: {}\n")
	k, err := vmtest.NewKey("guest-test")
	if err != nil {
		t.Fatal(err)
	}
	key := k.Authorized
	for _, p := range []vm.Cloud{vm.QEMU, vm.AWS, vm.GCP, vm.Azure, vm.VMware, vm.Nutanix} {
		t.Run(string(p), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			g, err := New(ctx, o, Spec{Platform: p, Dir: dir, Hostname: "web-1", User: "ops", AuthorizedKey: key, UserData: ud,
				Forward: []int{80, 22}, SourceDateEpoch: 1767225600})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			hw := Hardwares[p]
			c := g.Config
			if c.DiskBus != hw.Bus || c.NIC != hw.NIC || !slices.Equal(c.SMBIOS, hw.SMBIOS) || !slices.Equal(c.Forward, []int{80, 22}) || c.CPUs != 1 || c.Arch != vm.X86_64 {
				t.Errorf("config %+v, want the platform's hardware %+v, ports 80 and 22, one x86_64 CPU", c, hw)
			}
			if ok, _ := vmtest.KVMUsable(); g.Accel != map[bool]string{true: "kvm", false: "tcg"}[ok] || c.KVM != ok {
				t.Errorf("accel %s (KVM %v), the probe says %v", g.Accel, c.KVM, ok)
			}
			if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(c.UUID) {
				t.Errorf("UUID %q is not a random (version 4) UUID", c.UUID)
			}
			bf, bfmt := backing(t, c.Disk)
			want := map[vm.Cloud][2]string{vm.QEMU: {"disk.qcow2", "qcow2"}, vm.AWS: {"disk.raw", "raw"}, vm.GCP: {"gce/disk.raw", "raw"},
				vm.Azure: {"disk.vhd", "vpc"}, vm.VMware: {"ova/disk.vmdk", "vmdk"}, vm.Nutanix: {"disk.qcow2", "qcow2"}}[p]
			if !strings.HasSuffix(bf, "/"+want[0]) || bfmt != want[1] {
				t.Errorf("overlay of %s (%s), want %s (%s)", bf, bfmt, want[0], want[1])
			}
			if p == vm.GCP || p == vm.VMware {
				if err := exec.Command("qemu-img", "compare", "-f", want[1], "-F", "raw", bf, o.Disk.Path).Run(); err != nil {
					t.Errorf("the unpacked %s is not the disk: qemu-img compare: %v", bf, err)
				}
			}
			if hw.FirmwareESP {
				b, err := os.ReadFile(filepath.Join(dir, "esp.img"))
				if err != nil || !bytes.Equal(b, esp) || len(c.Drives) != 1 || c.Drives[0] != filepath.Join(dir, "esp.img") {
					t.Errorf("the ESP copy (%d bytes, %v) is not the disk's ESP, or not attached: drives %q", len(b), err, c.Drives)
				}
			}
			if ip := HostIP(p); (p == vm.AWS || p == vm.GCP || p == vm.Azure) != slices.Contains(c.Net, "host="+ip) {
				t.Errorf("host address %s, user network %q", ip, c.Net)
			}
			switch p {
			case vm.AWS:
				u := "http://" + target(t, c, "169.254.169.254:80")
				if code, _ := get(t, http.MethodGet, u+"/latest/user-data", nil); code != http.StatusUnauthorized || len(g.Violations()) != 1 {
					t.Errorf("an IMDSv1 GET: %d, violations %q; want 401 and one violation", code, g.Violations())
				}
				_, tok := get(t, http.MethodPut, u+"/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"})
				h := map[string]string{"X-aws-ec2-metadata-token": tok}
				_, host := get(t, http.MethodGet, u+"/latest/meta-data/local-hostname", h)
				_, got := get(t, http.MethodGet, u+"/latest/meta-data/public-keys/0/openssh-key", h)
				_, d := get(t, http.MethodGet, u+"/latest/user-data", h)
				if host != "web-1.ec2.internal" || got != key+"\n" || d != string(ud) {
					t.Errorf("IMDSv2: hostname %q, key %q, user data %q", host, got, d)
				}
			case vm.GCP:
				u := "http://" + target(t, c, "169.254.169.254:80") + "/computeMetadata/v1/"
				h := map[string]string{"Metadata-Flavor": "Google"}
				_, host := get(t, http.MethodGet, u+"instance/hostname", h)
				_, got := get(t, http.MethodGet, u+"instance/attributes/ssh-keys", h)
				_, d := get(t, http.MethodGet, u+"instance/attributes/user-data", h)
				if host != "web-1.c.hardvm-test.internal" || got != "ops:"+key || d != string(ud) || len(g.Violations()) != 0 {
					t.Errorf("GCE metadata: hostname %q, ssh-keys %q, user data %q, violations %q", host, got, d, g.Violations())
				}
			case vm.Azure:
				u := "http://" + target(t, c, "169.254.169.254:80")
				_, doc := get(t, http.MethodGet, u+"/metadata/instance?api-version=2021-02-01", map[string]string{"Metadata": "true"})
				var inst struct {
					Compute struct {
						Name     string `json:"name"`
						UserData string `json:"userData"`
					} `json:"compute"`
				}
				_ = json.Unmarshal([]byte(doc), &inst)
				if inst.Compute.Name != "web-1" || inst.Compute.UserData != base64.StdEncoding.EncodeToString(ud) || !strings.Contains(doc, key) {
					t.Errorf("Azure IMDS: %s", doc)
				}
				w := "http://" + target(t, c, "168.63.129.16:80")
				if code, _ := get(t, http.MethodGet, w+"/machine/?comp=goalstate", map[string]string{"x-ms-version": "2012-11-30"}); code != http.StatusOK {
					t.Errorf("the wire server's goal state: %d", code)
				}
			case vm.VMware:
				vals := map[string]string{}
				for _, f := range c.FwCfg {
					name, val, _ := strings.Cut(strings.TrimPrefix(f, "name=opt/org.hardvm/"), ",string=")
					vals[name] = val
				}
				meta, _ := base64.StdEncoding.DecodeString(vals["guestinfo.metadata"])
				d, _ := base64.StdEncoding.DecodeString(vals["guestinfo.userdata"])
				if !strings.Contains(string(meta), "local-hostname: web-1\n") || !strings.Contains(string(meta), key) || string(d) != string(ud) ||
					vals["guestinfo.metadata.encoding"] != "base64" || vals["guestinfo.userdata.encoding"] != "base64" {
					t.Errorf("guestinfo: %q", vals)
				}
			case vm.Nutanix:
				if len(c.CDROMs) != 1 {
					t.Fatalf("CD-ROMs %q, want the config drive", c.CDROMs)
				}
				meta, label := isoFile(t, c.CDROMs[0], "/openstack/latest/meta_data.json")
				d, _ := isoFile(t, c.CDROMs[0], "/openstack/latest/user_data")
				if label != "config-2" || !strings.Contains(meta, `"hostname":"web-1"`) || !strings.Contains(meta, key) || d != string(ud) {
					t.Errorf("config drive %q: meta_data.json %s, user_data %q", label, meta, d)
				}
			case vm.QEMU:
				if len(c.Drives) != 1 {
					t.Fatalf("drives %q, want the NoCloud seed", c.Drives)
				}
				meta := testtool.Run(t, "mtype", "-i", c.Drives[0], "::/meta-data")
				d := testtool.Run(t, "mtype", "-i", c.Drives[0], "::/user-data")
				label := strings.TrimSpace(testtool.Run(t, "mlabel", "-s", "-i", c.Drives[0], "::"))
				if label != "Volume label is CIDATA" || !strings.Contains(meta, "web-1") || d != string(ud) {
					t.Errorf("seed %q: meta-data %q, user-data %q", label, meta, d)
				}
			}
		})
	}
}

// TestNewRefuses: a platform with no hardware row, and a build without
// the platform's format, are errors before anything is made.
func TestNewRefuses(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, &hardvm.Output{}, Spec{Platform: "mainframe", Dir: t.TempDir()}); !errors.Is(err, ErrNoHardware) {
		t.Errorf("unknown platform: %v, want ErrNoHardware", err)
	}
	o := &hardvm.Output{Dir: "out", Artifacts: []artifact.Artifact{{Format: vm.FormatQCOW2, Path: "disk.qcow2"}}}
	if _, err := New(ctx, o, Spec{Platform: vm.AWS, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no raw disk") {
		t.Errorf("aws from a build without disk.raw: %v", err)
	}
}

func TestHostIP(t *testing.T) {
	for p, want := range map[vm.Cloud]string{vm.QEMU: "10.0.2.2", vm.AWS: "169.254.169.2", vm.GCP: "169.254.169.2", vm.Azure: "168.0.0.2",
		vm.VMware: "10.0.2.2", vm.Nutanix: "10.0.2.2"} {
		if got := HostIP(p); got != want {
			t.Errorf("HostIP(%s) = %s, want %s", p, got, want)
		}
	}
	if a, b := NewUUID(), NewUUID(); a == b {
		t.Errorf("two UUIDs alike: %s", a)
	}
}
