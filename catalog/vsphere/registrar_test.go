package vsphere

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// withVCSim runs f against govmomi's in-process vCenter simulator (VPX
// model: one datacenter, cluster, hosts, datastore, "VM Network").
func withVCSim(t *testing.T, f func(ctx context.Context, c *vim25.Client)) {
	t.Helper()
	m := simulator.VPX()
	defer m.Remove()
	if err := m.Run(func(ctx context.Context, c *vim25.Client) error { f(ctx, c); return nil }); err != nil {
		t.Fatal(err)
	}
}

// testOVA writes a raw disk of size bytes (data at both ends and at
// 3 MiB, holes elsewhere) and exports it as an OVA with vdisk's writer.
func testOVA(t testing.TB, size int64, opts ...func(*vdisk.OVA)) (artifact.Artifact, string) {
	t.Helper()
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	b := make([]byte, 256<<10)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for _, off := range []int64{0, 3 << 20, size - int64(len(b))} {
		f.WriteAt(b, off)
	}
	f.Truncate(size)
	f.Close()
	src, err := vdisk.OpenFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w := vdisk.OVA{Name: "hardvm", SourceDateEpoch: catalogtest.Base}
	for _, o := range opts {
		o(&w)
	}
	p := filepath.Join(dir, "disk.ova")
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDisk(context.Background(), out, src); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return artifactOf(t, p), raw
}

func artifactOf(t testing.TB, p string) artifact.Artifact {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, _ := io.Copy(h, f)
	return artifact.Artifact{Format: vm.FormatOVA, Path: p, Size: n, Digest: digest.NewDigest(digest.SHA256, h)}
}

// failing makes every SOAP call of one method fail, to fail a chosen step.
type failing struct {
	soap.RoundTripper
	method string
}

func (f *failing) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	if strings.Contains(fmt.Sprintf("%T", req), f.method) {
		return fmt.Errorf("injected failure of %s", f.method)
	}
	return f.RoundTripper.RoundTrip(ctx, req, res)
}

func vms(t *testing.T, ctx context.Context, c *vim25.Client) map[string]mo.VirtualMachine {
	t.Helper()
	var all []mo.VirtualMachine
	v, err := viewVMs(ctx, c, &all)
	if err != nil {
		t.Fatal(err)
	}
	_ = v
	out := map[string]mo.VirtualMachine{}
	for _, m := range all {
		out[m.Name] = m
	}
	return out
}

func TestRegisterImportsTemplate(t *testing.T) {
	qemu := testtool.Require(t, "qemu-img")
	a, raw := testOVA(t, 8<<20)
	withVCSim(t, func(ctx context.Context, c *vim25.Client) {
		var mu sync.Mutex
		var last, total int64
		r, err := New(simConfig(c), WithProgress(progress.Func(func(stage string, d, n int64) {
			mu.Lock()
			last, total = d, n
			mu.Unlock()
		})))
		if err != nil {
			t.Fatal(err)
		}
		e := catalogtest.EntryFor(vm.VMware, a, 1)
		before := len(vms(t, ctx, c))
		loc, err := r.Register(ctx, a, e)
		if err != nil {
			t.Fatal(err)
		}
		name := TemplateName(e.Ref)
		if loc.URI != "/DC0/vm/"+name || loc.Digest != a.Digest || loc.Target != vm.VMware {
			t.Errorf("location %+v", loc)
		}
		all := vms(t, ctx, c)
		if len(all) != before+1 {
			t.Errorf("%d VMs, want %d", len(all), before+1)
		}
		got, ok := all[name]
		if !ok || got.Self.Value != loc.ID {
			t.Fatalf("no template %s (%s)", name, loc.ID)
		}
		if !got.Config.Template || got.Config.Firmware != "efi" {
			t.Errorf("template %v, firmware %q", got.Config.Template, got.Config.Firmware)
		}
		labels := map[string]any{}
		for _, o := range got.Config.ExtraConfig {
			labels[o.GetOptionValue().Key] = o.GetOptionValue().Value
		}
		if labels[KeyRef] != e.Ref.String() || labels[KeyDigest] != a.Digest.String() {
			t.Errorf("extra config %v", labels)
		}
		// What was uploaded is the OVA's VMDK, all of it: vcsim's lease
		// manifest matched its SHA-1 (checked by importOVA). The VMDK itself
		// holds the raw disk, as qemu-img says. The whole OVA was read.
		pkg, _ := CheckArtifact(a)
		if last != a.Size || total != a.Size {
			t.Errorf("progress %d/%d, the OVA has %d bytes", last, total, a.Size)
		}
		vmdk := filepath.Join(t.TempDir(), "disk.vmdk")
		testtool.Run(t, "tar", "-xf", a.Path, "-C", filepath.Dir(vmdk), pkg.Disk)
		testtool.Run(t, qemu, "compare", "-f", "vmdk", "-F", "raw", filepath.Join(filepath.Dir(vmdk), pkg.Disk), raw)

		again, err := r.Register(ctx, a, e)
		if err != nil || again.ID != loc.ID {
			t.Errorf("second Register: %+v, %v", again, err)
		}
		if err := r.Deregister(ctx, loc); err != nil {
			t.Fatal(err)
		}
		if _, ok := vms(t, ctx, c)[name]; ok {
			t.Error("template still there after Deregister")
		}
		if err := r.Deregister(ctx, loc); err != nil {
			t.Errorf("second Deregister: %v", err)
		}
	})
}

// TestRegisterFailureCleansUp fails the last step (MarkAsTemplate), then
// the lease completion, and checks that no VM is left either way.
func TestRegisterFailureCleansUp(t *testing.T) {
	a, _ := testOVA(t, 4<<20)
	for _, method := range []string{"MarkAsTemplate", "HttpNfcLeaseComplete", "HttpNfcLeaseGetManifest"} {
		t.Run(method, func(t *testing.T) {
			withVCSim(t, func(ctx context.Context, c *vim25.Client) {
				before := vms(t, ctx, c)
				r, _ := New(simConfig(c))
				rt := c.RoundTripper
				c.RoundTripper = &failing{RoundTripper: rt, method: method}
				_, err := r.Register(ctx, a, catalogtest.EntryFor(vm.VMware, a, 1))
				c.RoundTripper = rt
				if err == nil || !strings.Contains(err.Error(), "injected failure") {
					t.Fatalf("Register = %v, want the injected failure", err)
				}
				if after := vms(t, ctx, c); len(after) != len(before) {
					t.Errorf("%d VMs before, %d after a failed Register", len(before), len(after))
				}
			})
		})
	}
}

func TestRegisterRefusesBeforeUpload(t *testing.T) {
	a, raw := testOVA(t, 4<<20)
	bios, _ := testOVA(t, 4<<20)
	// An OVA whose descriptor asks for BIOS: rewrite the firmware value in
	// place (same length keeps the tar valid).
	b, _ := os.ReadFile(bios.Path)
	b = []byte(strings.Replace(string(b), `vmw:value="efi"`, `vmw:value="bio"`, 1))
	os.WriteFile(bios.Path, b, 0o644)
	bios = artifactOf(t, bios.Path)
	tests := []struct {
		name string
		a    artifact.Artifact
		rule string
		want error
	}{
		{"raw file as OVA", artifact.Artifact{Format: vm.FormatOVA, Path: raw, Digest: a.Digest}, "vmware-vmdk", catalog.ErrRejected},
		{"vmdk format", artifact.Artifact{Format: vm.FormatVMDK, Path: a.Path, Digest: a.Digest}, catalog.RuleFormat, catalog.ErrRejected},
		{"bios firmware", bios, "vmware-efi", catalog.ErrRejected},
		{"wrong digest", artifact.Artifact{Format: vm.FormatOVA, Path: a.Path, Digest: catalogtest.Digest("x")}, catalog.RuleDigest, catalog.ErrDigest},
	}
	withVCSim(t, func(ctx context.Context, c *vim25.Client) {
		before := vms(t, ctx, c)
		r, _ := New(simConfig(c))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := r.Register(ctx, tt.a, catalogtest.EntryFor(vm.VMware, a, 1))
				if !errors.Is(err, tt.want) {
					t.Fatalf("Register = %v, want %v", err, tt.want)
				}
				var ae *catalog.ArtifactError
				if !errors.As(err, &ae) || ae.Rule != tt.rule || ae.Target != "vmware" {
					t.Errorf("error %v does not name rule %s and the target", err, tt.rule)
				}
			})
		}
		if after := vms(t, ctx, c); len(after) != len(before) {
			t.Errorf("%d VMs before, %d after refused artifacts", len(before), len(after))
		}
	})
}

func TestRegistrarKit(t *testing.T) {
	withVCSim(t, func(ctx context.Context, c *vim25.Client) {
		r, err := New(simConfig(c))
		if err != nil {
			t.Fatal(err)
		}
		before := vms(t, ctx, c) // vcsim's own
		catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
			Artifact: func(t *testing.T) artifact.Artifact { a, _ := testOVA(t, 4<<20); return a },
			Empty: func(t *testing.T) {
				for name, m := range vms(t, ctx, c) {
					if _, ok := before[name]; !ok {
						t.Errorf("VM %s (%s, template %v) left", name, m.Self.Value, m.Config != nil && m.Config.Template)
					}
				}
			},
			Check: func(t *testing.T, loc catalog.Location, a artifact.Artifact) {
				var m mo.VirtualMachine
				v := object.NewVirtualMachine(c, types.ManagedObjectReference{Type: "VirtualMachine", Value: loc.ID})
				if err := v.Properties(ctx, v.Reference(), []string{"config"}, &m); err != nil {
					t.Fatal(err)
				}
				ok := false
				for _, o := range m.Config.ExtraConfig {
					ok = ok || o.GetOptionValue().Key == KeyDigest && o.GetOptionValue().Value == a.Digest.String()
				}
				if !ok || !m.Config.Template {
					t.Errorf("template %s: digest label %v, template %v", loc.ID, ok, m.Config.Template)
				}
			},
			Gone: func(t *testing.T, loc catalog.Location) {
				for _, m := range vms(t, ctx, c) {
					if m.Self.Value == loc.ID {
						t.Errorf("VM %s (%s) still exists", loc.ID, m.Name)
					}
				}
			},
		})
	})
}
