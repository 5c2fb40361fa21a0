package vsphere

import (
	"archive/tar"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

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
	digest     string            // the OVA's sha256:<hex>; checked before the lease completes
	extra      map[string]string // ExtraConfig of the VM
	annotation string
	secureBoot bool
	size       int64 // bytes of the disks, for progress
	progress   func(done, total int64)
}

// importOVA imports the OVA f as a VM: CreateImportSpec from its
// descriptor (firmware efi, the given ExtraConfig), ImportVApp, and an NFC
// upload of each disk streamed from the tar as it is read. The whole file
// is hashed meanwhile; the lease is completed only if the digest is
// s.digest, and aborted on any failure, which leaves no VM behind.
func importOVA(ctx context.Context, c *vim25.Client, p placement, f *os.File, s importSpec) (types.ManagedObjectReference, error) {
	var none types.ManagedObjectReference
	h := sha256.New()
	stream := io.TeeReader(f, h)
	tr := tar.NewReader(stream)
	hd, err := tr.Next()
	if err != nil || path.Ext(hd.Name) != ".ovf" {
		return none, fmt.Errorf("%w: %s: no OVF descriptor first (%v)", ErrArtifact, f.Name(), err)
	}
	desc, err := readDescriptor(tr, hd)
	if err != nil {
		return none, fmt.Errorf("%w: %s: %v", ErrArtifact, f.Name(), err)
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
		return none, fmt.Errorf("%w: %s: the descriptor is a vApp, not one virtual machine", ErrImport, f.Name())
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
	total := s.size
	var mu sync.Mutex
	var done int64
	uploaded := map[string]bool{}
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return abort(fmt.Errorf("%w: %s: %v", ErrArtifact, f.Name(), err))
		}
		for _, it := range info.Items {
			if it.Path != hd.Name || uploaded[it.Path] {
				continue
			}
			sh := sha1.New()
			r := io.TeeReader(tr, sh)
			if s.progress != nil {
				r = &countReader{r: r, add: func(n int64) {
					mu.Lock()
					done += n
					s.progress(done, total)
					mu.Unlock()
				}}
			}
			if err := lease.Upload(ctx, it, r, soap.Upload{ContentLength: hd.Size}); err != nil {
				return abort(fmt.Errorf("vsphere: upload %s of %s: %w", hd.Name, s.name, err))
			}
			uploaded[it.Path] = true
			sums[deviceKey(info, it.DeviceId)] = hex.EncodeToString(sh.Sum(nil))
		}
	}
	for _, it := range info.Items {
		if !uploaded[it.Path] {
			return abort(fmt.Errorf("%w: %s: the descriptor's file %s is not in the OVA", ErrArtifact, f.Name(), it.Path))
		}
	}
	if err := checkManifest(ctx, lease, sums); err != nil {
		return abort(err)
	}
	if _, err := io.Copy(io.Discard, stream); err != nil { // the rest of the file: tar padding
		return abort(fmt.Errorf("vsphere: read %s: %w", f.Name(), err))
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != s.digest {
		return abort(&catalog.DigestError{What: f.Name(), Want: s.digest, Got: got})
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

// countReader reports the bytes read through it.
type countReader struct {
	r   io.Reader
	add func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}
