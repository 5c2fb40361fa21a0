package vdisk

import (
	"archive/tar"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// Bounds of what an OVA reader reads before the disk.
const (
	maxOVF        = 1 << 20 // the OVF descriptor
	maxOVAMembers = 64      // tar members looked at
)

// ovfEnvelope is the part of an OVF descriptor that names the disks.
type ovfEnvelope struct {
	Files []struct {
		Href string `xml:"href,attr"`
		ID   string `xml:"id,attr"`
		Size string `xml:"size,attr"`
	} `xml:"References>File"`
	Disks []struct {
		Capacity string `xml:"capacity,attr"`
		Units    string `xml:"capacityAllocationUnits,attr"`
		FileRef  string `xml:"fileRef,attr"`
	} `xml:"DiskSection>Disk"`
}

// posReader tracks the offset tar.Reader has reached in the archive.
type posReader struct {
	r   *io.SectionReader
	pos int64
}

func (p *posReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.pos += int64(n)
	return n, err
}

func (p *posReader) Seek(off int64, whence int) (int64, error) {
	n, err := p.r.Seek(off, whence)
	if err == nil {
		p.pos = n
	}
	return n, err
}

// newOVAReader reads the OVF descriptor (the first member), which must
// name exactly one disk, a plain file name in the archive, then opens that
// member in place as a VMDK: its tar size must be the OVF's ovf:size, when
// given, and its virtual size the disk's ovf:capacity.
func newOVAReader(r io.ReaderAt, size int64) (*Reader, error) {
	const f = vm.FormatOVA
	pr := &posReader{r: io.NewSectionReader(r, 0, size)}
	tr := tar.NewReader(pr)
	var env *ovfEnvelope
	var href string
	var capacity, fileSize int64 = -1, -1
	for i := 0; i < maxOVAMembers; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fieldErr(f, "tar", pr.pos, ErrInvalid, "%v", err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size < 0 || hdr.Size > size-pr.pos {
			return nil, fieldErr(f, "tar", pr.pos, ErrInvalid, "member %q is not a regular file inside the archive", hdr.Name)
		}
		if env == nil {
			if !strings.HasSuffix(hdr.Name, ".ovf") || hdr.Size > maxOVF {
				return nil, fieldErr(f, "ovf", pr.pos, ErrInvalid, "the first member %q (%d bytes) is not an OVF descriptor of at most %d bytes", hdr.Name, hdr.Size, maxOVF)
			}
			env = new(ovfEnvelope)
			if err := xml.NewDecoder(io.LimitReader(tr, hdr.Size)).Decode(env); err != nil {
				return nil, fieldErr(f, "ovf", pr.pos, ErrInvalid, "%v", err)
			}
			if href, capacity, fileSize, err = ovfDisk(env); err != nil {
				return nil, err
			}
			continue
		}
		if hdr.Name != href {
			continue
		}
		if fileSize >= 0 && hdr.Size != fileSize {
			return nil, fieldErr(f, "ovf.File.size", -1, ErrMismatch, "%s has %d bytes in the archive, the OVF says %d", href, hdr.Size, fileSize)
		}
		d, err := newVMDKReader(io.NewSectionReader(r, pr.pos, hdr.Size), hdr.Size, f)
		if err != nil {
			return nil, fmt.Errorf("vdisk: ova: %s: %w", href, err)
		}
		if capacity >= 0 && d.Size() != capacity {
			return nil, fieldErr(f, "ovf.Disk.capacity", -1, ErrMismatch, "%s holds %d bytes, the OVF says %d", href, d.Size(), capacity)
		}
		return d, nil
	}
	if env == nil {
		return nil, fieldErr(f, "ovf", 0, ErrInvalid, "no OVF descriptor")
	}
	return nil, fieldErr(f, "ovf.File.href", -1, ErrInvalid, "the disk %q is not among the first %d members", href, maxOVAMembers)
}

// ovfDisk returns the one disk's file name, capacity in bytes and file
// size (-1 when the OVF gives none).
func ovfDisk(env *ovfEnvelope) (href string, capacity, fileSize int64, err error) {
	const f = vm.FormatOVA
	if len(env.Disks) != 1 {
		return "", 0, 0, fieldErr(f, "ovf.DiskSection", -1, ErrUnsupported, "%d disks (want one)", len(env.Disks))
	}
	d := env.Disks[0]
	fileSize = -1
	for _, fl := range env.Files {
		if fl.ID != d.FileRef {
			continue
		}
		href = fl.Href
		if fl.Size != "" {
			if fileSize, err = strconv.ParseInt(fl.Size, 10, 64); err != nil || fileSize < 0 {
				return "", 0, 0, fieldErr(f, "ovf.File.size", -1, ErrInvalid, "size %q", fl.Size)
			}
		}
	}
	if href == "" || href != path.Base(href) || strings.ContainsAny(href, `\:`) || !strings.HasSuffix(href, ".vmdk") {
		return "", 0, 0, fieldErr(f, "ovf.File.href", -1, ErrExternalData, "disk file %q is not a plain .vmdk name in the archive", href)
	}
	c, err := strconv.ParseInt(d.Capacity, 10, 64)
	if err != nil || c < 0 {
		return "", 0, 0, fieldErr(f, "ovf.Disk.capacity", -1, ErrInvalid, "capacity %q", d.Capacity)
	}
	shift, err := ovfUnits(d.Units)
	if err != nil {
		return "", 0, 0, err
	}
	if c > MaxVirtualSize>>shift {
		return "", 0, 0, fieldErr(f, "ovf.Disk.capacity", -1, ErrTooLarge, "capacity %d << %d", c, shift)
	}
	return href, c << shift, fileSize, nil
}

// ovfUnits parses capacityAllocationUnits: "byte", or "byte * 2^N".
func ovfUnits(u string) (uint, error) {
	u = strings.ReplaceAll(u, " ", "")
	if u == "" || u == "byte" {
		return 0, nil
	}
	if n, ok := strings.CutPrefix(u, "byte*2^"); ok {
		if k, err := strconv.Atoi(n); err == nil && k >= 0 && k <= 50 {
			return uint(k), nil
		}
	}
	return 0, fieldErr(vm.FormatOVA, "ovf.Disk.capacityAllocationUnits", -1, ErrUnsupported, "units %q", u)
}
