// Package vsphere publishes hardvm images to VMware vSphere as VM
// templates.
//
// The OVA is read once, front to back, as the tar stream it is: its OVF
// descriptor (first member) becomes an import spec (OvfManager
// CreateImportSpec, with firmware efi and the image's Ref and digest in
// the VM's ExtraConfig and annotation), ResourcePool.ImportVApp opens an
// NFC lease, and the streamOptimized VMDK (second member) is streamed
// straight from the tar into the lease's upload URL while the lease's
// progress is reported. The whole file is hashed on the way
// (catalog.OpenArtifact) and must have the artifact's digest before the
// lease is completed; then the VM is marked as a template. A streamOptimized VMDK holds only the disk's data
// grains, so holes are never sent.
//
// Any failure aborts the lease or destroys the imported VM: nothing
// half-imported is left. vSphere has no image deprecation, so the
// Registrar does not implement catalog.Deprecator.
//
// Only this package imports govmomi.
package vsphere
