package vsphere

import (
	"archive/tar"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hardvm/hardvm/catalog"
)

// placement is where an import lands.
type placement struct {
	pool      *object.ResourcePool
	datastore *object.Datastore
	folder    *object.Folder
}

// importSpec is what importOVA needs besides the file.
type importSpec struct {
	name       string
	extra      map[string]string // ExtraConfig of the VM
	annotation string
	secureBoot bool
}

// importOVA imports the OVA src as a VM: CreateImportSpec from its
// descriptor (firmware efi, the given ExtraConfig), ImportVApp, and an NFC
// upload of each disk streamed from the tar as it is read. src hashes the
// whole file meanwhile; the lease is completed only once src verified the
// digest (at the end of the file, after the disks), and aborted on any
// failure, which leaves no VM behind.
func importOVA(ctx context.Context, c *vim25.Client, p placement, src *catalog.ArtifactFile, s importSpec) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference
	// malformed is the error of a tar stream that breaks off: the file's
	// rejection if it is one (its digest is wrong), else a broken OVA.
	malformed := func(err error) error {
		if errors.Is(err, catalog.ErrRejected) {
			return err
		}
		return src.Reject("vmware-vmdk", err)
	}
	stream := src.Reader()
	tr := tar.NewReader(stream)
	hd, err := tr.Next()
	if err != nil {
		return none, malformed(fmt.Errorf("no OVF descriptor first: %w", err))
	}
	if path.Ext(hd.Name) != ".ovf" {
		return none, src.Reject("vmware-vmdk", fmt.Errorf("first member %q, an OVA starts with its .ovf descriptor", hd.Name))
	}
	desc, err := readDescriptor(tr, hd)
	if err != nil {
		return none, malformed(err)
	}
	m := ovf.NewManager(c)
	spec, err := m.CreateImportSpec(ctx, string(desc), p.pool, p.datastore, &types.OvfCreateImportSpecParams{
		EntityName:             s.name,
		DiskProvisioning:       string(types.OvfCreateImportSpecParamsDiskProvisioningTypeThin),
		OvfManagerCommonParams: types.OvfManagerCommonParams{Locale: "US"},
	})
	if err != nil {
		return none, fmt.Errorf("vsphere: CreateImportSpec for %s: %w", s.name, err)
	}
	if len(spec.Error) > 0 {
		return none, fmt.Errorf("%w: CreateImportSpec for %s: %s", ErrImport, s.name, spec.Error[0].LocalizedMessage)
	}
	vmSpec, ok := spec.ImportSpec.(*types.VirtualMachineImportSpec)
	if !ok {
		return none, fmt.Errorf("%w: %s: the descriptor is a vApp, not one virtual machine", ErrImport, src.Artifact().Name())
	}
	cs := &vmSpec.ConfigSpec
	cs.Firmware = string(types.GuestOsDescriptorFirmwareTypeEfi)
	cs.BootOptions = &types.VirtualMachineBootOptions{EfiSecureBootEnabled: types.NewBool(s.secureBoot)}
	cs.Annotation = s.annotation
	for _, k := range sortedKeys(s.extra) {
		cs.ExtraConfig = append(cs.ExtraConfig, &types.OptionValue{Key: k, Value: s.extra[k]})
	}

	lease, err := p.pool.ImportVApp(ctx, spec.ImportSpec, p.folder, nil)
	if err != nil {
		return none, fmt.Errorf("vsphere: ImportVApp %s: %w", s.name, err)
	}
	var info *nfc.LeaseInfo
	// abort aborts the lease, which on vSphere removes the VM being
	// imported; the VM is destroyed too in case the server kept it (vcsim
	// does).
	abort := func(err error) (types.ManagedObjectReference, error) {
		actx := context.WithoutCancel(ctx)
		if aerr := lease.Abort(actx, &types.LocalizedMethodFault{Fault: &types.SystemError{Reason: err.Error()}, LocalizedMessage: err.Error()}); aerr != nil {
			err = errors.Join(err, fmt.Errorf("vsphere: abort the lease of %s: %w", s.name, aerr))
		}
		if info != nil && info.Entity.Value != "" {
			if derr := destroy(actx, object.NewVirtualMachine(c, info.Entity)); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		return none, err
	}
	info, err = lease.Wait(ctx, spec.FileItem)
	if err != nil {
		return abort(fmt.Errorf("vsphere: lease of %s: %w", s.name, err))
	}
	upd := lease.StartUpdater(ctx, info)
	defer upd.Done()

	sums := map[string]string{} // device key -> sha1 of what was sent
	uploaded := map[string]bool{}
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return abort(malformed(err))
		}
		for _, it := range info.Items {
			if it.Path != hd.Name || uploaded[it.Path] {
				continue
			}
			sh := sha1.New()
			r := io.TeeReader(tr, sh)
			if err := lease.Upload(ctx, it, r, soap.Upload{ContentLength: hd.Size}); err != nil {
				return abort(fmt.Errorf("vsphere: upload %s of %s: %w", hd.Name, s.name, err))
			}
			uploaded[it.Path] = true
			sums[deviceKey(info, it.DeviceId)] = hex.EncodeToString(sh.Sum(nil))
		}
	}
	for _, it := range info.Items {
		if !uploaded[it.Path] {
			return abort(src.Reject("vmware-vmdk", fmt.Errorf("the descriptor's file %s is not in the OVA", it.Path)))
		}
	}
	if err := checkManifest(ctx, lease, sums); err != nil {
		return abort(err)
	}
	// The rest of the file (tar padding): the digest is verified as its
	// last bytes are read.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return abort(err)
	}
	if err := lease.Complete(ctx); err != nil {
		return abort(fmt.Errorf("vsphere: complete the lease of %s: %w", s.name, err))
	}
	return info.Entity, nil
}

// deviceKey returns the lease's device key of an import key.
func deviceKey(info *nfc.LeaseInfo, importKey string) string {
	for _, u := range info.DeviceUrl {
		if u.ImportKey == importKey {
			return u.Key
		}
	}
	return importKey
}

// checkManifest asks the server what it received (HttpNfcLeaseGetManifest)
// and compares each device's SHA-1 with what was sent, as ovftool does.
func checkManifest(ctx context.Context, lease *nfc.Lease, sums map[string]string) error {
	ms, err := lease.GetManifest(ctx)
	if err != nil {
		return fmt.Errorf("vsphere: lease manifest: %w", err)
	}
	seen := 0
	for _, m := range ms {
		want, ok := sums[m.Key]
		if !ok {
			continue
		}
		seen++
		if !strings.EqualFold(m.Sha1, want) {
			return fmt.Errorf("%w: the server received %s with SHA-1 %s, %s was sent", ErrImport, m.Key, m.Sha1, want)
		}
	}
	if seen != len(sums) {
		return fmt.Errorf("%w: the lease manifest lists %d of the %d disks sent", ErrImport, seen, len(sums))
	}
	return nil
}
