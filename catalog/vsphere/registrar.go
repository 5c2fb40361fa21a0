package vsphere

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// The ExtraConfig keys the registrar writes on the VM, so that the catalog
// finds an image again (guestinfo.* would be visible to the guest; these
// are not).
const (
	KeyRef    = "hardvm.ref"
	KeyDigest = "hardvm.digest"
	KeyStream = "hardvm.stream"
)

// Labels returns the ExtraConfig entries of an image: its Ref, stream and
// digest.
func Labels(r vm.Ref) map[string]string {
	l := map[string]string{KeyRef: r.String(), KeyStream: r.Stream()}
	if r.Digest != "" {
		l[KeyDigest] = r.Digest.String()
	}
	return l
}

// TemplateName is the VM template of a build:
// hardvm-variant[-fips]-arch-track-version.
func TemplateName(r vm.Ref) string {
	v := r.Variant
	if r.FIPS {
		v += "-fips"
	}
	return fmt.Sprintf("hardvm-%s-%s-%s-%s", v, r.Arch, r.Kernel, r.Version)
}

// Config says where templates go. Paths are inventory paths; an empty one
// means the default the finder picks (the only datacenter, datastore,
// resource pool, the datacenter's VM folder).
type Config struct {
	Client       *vim25.Client
	Datacenter   string
	Datastore    string
	ResourcePool string
	Folder       string
}

// Registrar imports OVAs as VM templates. It implements catalog.Registrar
// and catalog.FormatAccepter.
type Registrar struct {
	cfg Config
	o   options
}

// Option configures a Registrar.
type Option func(*options) error

type options struct {
	secureBoot bool
	logger     *slog.Logger
	progress   progress.Reporter
}

// WithSecureBoot enables UEFI Secure Boot on the templates.
func WithSecureBoot() Option { return func(o *options) error { o.secureBoot = true; return nil } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithProgress reports upload progress, stage "vmware upload <file name>",
// in bytes of the OVA.
func WithProgress(p progress.Reporter) Option {
	return func(o *options) error { o.progress = p; return nil }
}

// New returns a Registrar importing through the vSphere client of cfg.
func New(cfg Config, opts ...Option) (*Registrar, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if cfg.Client == nil {
		return nil, fmt.Errorf("%w: no vSphere client", ErrOption)
	}
	return &Registrar{cfg: cfg, o: o}, nil
}

// Target returns vm.VMware.
func (r *Registrar) Target() vm.Cloud { return vm.VMware }

// Accepts reports whether the registrar takes artifacts of format f: OVAs.
func (r *Registrar) Accepts(f vm.DiskFormat) bool { return f == vm.FormatOVA }

func (r *Registrar) place(ctx context.Context) (placement, *object.Datacenter, error) {
	fd := find.NewFinder(r.cfg.Client, true)
	dc, err := fd.DatacenterOrDefault(ctx, r.cfg.Datacenter)
	if err != nil {
		return placement{}, nil, fmt.Errorf("vsphere: datacenter: %w", err)
	}
	fd.SetDatacenter(dc)
	var p placement
	if p.datastore, err = fd.DatastoreOrDefault(ctx, r.cfg.Datastore); err != nil {
		return p, nil, fmt.Errorf("vsphere: datastore: %w", err)
	}
	if p.pool, err = fd.ResourcePoolOrDefault(ctx, r.cfg.ResourcePool); err != nil {
		return p, nil, fmt.Errorf("vsphere: resource pool: %w", err)
	}
	if r.cfg.Folder == "" {
		fs, err := dc.Folders(ctx)
		if err != nil {
			return p, nil, fmt.Errorf("vsphere: folders: %w", err)
		}
		p.folder = fs.VmFolder
	} else if p.folder, err = fd.Folder(ctx, r.cfg.Folder); err != nil {
		return p, nil, fmt.Errorf("vsphere: folder: %w", err)
	}
	return p, dc, nil
}

// Register checks the OVA a, imports it (descriptor, then the
// streamOptimized VMDK through the NFC lease, hashed on the way), and
// marks the VM as a template named for the entry, with firmware efi and
// the Ref and digest in its ExtraConfig. The lease is completed only once
// the digest of the whole OVA is verified; an artifact that breaks a rule
// or whose file does not have its digest is refused with a
// *catalog.ArtifactError (catalog.ErrRejected). Registering the same
// artifact again returns the existing template. On failure the lease is
// aborted or the VM destroyed.
func (r *Registrar) Register(ctx context.Context, a artifact.Artifact, e catalog.Entry) (loc catalog.Location, err error) {
	src, err := catalog.OpenArtifact(a, string(vm.VMware), r.o.progress)
	if err != nil {
		return catalog.Location{}, err
	}
	defer src.Close()
	pkg, err := check(src)
	if err != nil {
		return catalog.Location{}, err
	}
	p, _, err := r.place(ctx)
	if err != nil {
		return catalog.Location{}, err
	}
	name := TemplateName(e.Ref)
	if ref, d, err := r.existing(ctx, p.folder, name); err != nil {
		return catalog.Location{}, err
	} else if ref != nil {
		if d != a.Digest {
			return catalog.Location{}, fmt.Errorf("%w: template %s holds digest %q, not %s", catalog.ErrConflict, name, d, a.Digest)
		}
		r.o.logger.InfoContext(ctx, "vsphere: template already registered", "name", name, "vm", ref.Value)
		return r.location(*ref, p.folder, name, a), nil
	}
	labels := Labels(e.Ref)
	labels[KeyDigest] = a.Digest.String()
	s := importSpec{
		name: name, extra: labels, secureBoot: r.o.secureBoot,
		annotation: fmt.Sprintf("hardvm %s\n%s\ndisk %s, %d bytes virtual", e.Ref, a.Digest, pkg.Disk, pkg.Capacity),
	}
	ref, err := importOVA(ctx, r.cfg.Client, p, src, s)
	if err != nil {
		return catalog.Location{}, err
	}
	v := object.NewVirtualMachine(r.cfg.Client, ref)
	defer func() {
		if err != nil {
			if derr := destroy(context.WithoutCancel(ctx), v); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	if err := ensureEFI(ctx, v); err != nil {
		return catalog.Location{}, err
	}
	if err := v.MarkAsTemplate(ctx); err != nil {
		return catalog.Location{}, fmt.Errorf("vsphere: MarkAsTemplate %s: %w", name, err)
	}
	return r.location(ref, p.folder, name, a), nil
}

func (r *Registrar) location(ref types.ManagedObjectReference, folder *object.Folder, name string, a artifact.Artifact) catalog.Location {
	return catalog.Location{Target: vm.VMware, ID: ref.Value, URI: strings.TrimSuffix(folder.InventoryPath, "/") + "/" + name, Format: vm.FormatOVA, Digest: a.Digest}
}

// existing returns the VM named name in folder and its digest label ("" if
// it has none that parses), or nil.
func (r *Registrar) existing(ctx context.Context, folder *object.Folder, name string) (*types.ManagedObjectReference, digest.Digest, error) {
	ref, err := object.NewSearchIndex(r.cfg.Client).FindChild(ctx, folder, name)
	if err != nil {
		return nil, "", fmt.Errorf("vsphere: look up %s: %w", name, err)
	}
	if ref == nil {
		return nil, "", nil
	}
	var m mo.VirtualMachine
	if err := property.DefaultCollector(r.cfg.Client).RetrieveOne(ctx, ref.Reference(), []string{"config.extraConfig"}, &m); err != nil {
		return nil, "", fmt.Errorf("vsphere: properties of %s: %w", name, err)
	}
	mref := ref.Reference()
	if m.Config == nil {
		return &mref, "", nil
	}
	for _, o := range m.Config.ExtraConfig {
		if ov := o.GetOptionValue(); ov.Key == KeyDigest {
			s, _ := ov.Value.(string)
			d, _ := digest.Parse(s)
			return &mref, d, nil
		}
	}
	return &mref, "", nil
}

// ensureEFI checks the imported VM boots with EFI, and reconfigures it if
// the import did not keep the setting.
func ensureEFI(ctx context.Context, v *object.VirtualMachine) error {
	var m mo.VirtualMachine
	if err := v.Properties(ctx, v.Reference(), []string{"config.firmware"}, &m); err != nil {
		return fmt.Errorf("vsphere: firmware of %s: %w", v.Reference().Value, err)
	}
	if m.Config != nil && m.Config.Firmware == string(types.GuestOsDescriptorFirmwareTypeEfi) {
		return nil
	}
	t, err := v.Reconfigure(ctx, types.VirtualMachineConfigSpec{Firmware: string(types.GuestOsDescriptorFirmwareTypeEfi)})
	if err == nil {
		err = t.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("vsphere: set firmware efi on %s: %w", v.Reference().Value, err)
	}
	return nil
}

// destroy deletes a VM or template with its disks; one already gone is
// not an error.
func destroy(ctx context.Context, v *object.VirtualMachine) error {
	t, err := v.Destroy(ctx)
	if err == nil {
		err = t.Wait(ctx)
	}
	if err != nil && !fault.Is(err, &types.ManagedObjectNotFound{}) {
		return fmt.Errorf("vsphere: destroy %s: %w", v.Reference().Value, err)
	}
	return nil
}

// Deregister destroys the template at loc (ID is its managed object id,
// e.g. vm-42) with its disks. A template already gone is not an error.
func (r *Registrar) Deregister(ctx context.Context, loc catalog.Location) error {
	if loc.Target != "" && loc.Target != vm.VMware || loc.ID == "" {
		return fmt.Errorf("%w: %s %q", ErrLocation, loc.Target, loc.ID)
	}
	return destroy(ctx, object.NewVirtualMachine(r.cfg.Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: loc.ID}))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
