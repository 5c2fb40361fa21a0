// Package vdisktest is the conformance kit for vdisk writers: [Run] writes
// small sparse raw disks with a writer and checks the result with the tools
// users trust (qemu-img check, compare and info; tar and gzip for GCE;
// the tar order, the manifest and xmllint for OVA), byte for byte against
// the raw disk, plus the platforms' size rules, byte-identical rewrites,
// the same bytes through a bare vdisk.Destination and, for a
// vdisk.StreamWriter, through a plain io.Writer, and cancellation. A
// missing tool fails the test, it never skips.
//
// A writer's test is one line:
//
//	func TestMyFormat(t *testing.T) { vdisktest.Run(t, MyFormat{}) }
package vdisktest
