package boot

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// CPIOEntry is one member of a newc cpio archive.
type CPIOEntry struct {
	Name     string      // path without a leading slash, e.g. "lib/modules"
	Mode     fs.FileMode // type and permission bits (setuid/setgid/sticky honoured)
	UID, GID uint32
	Size     int64  // bytes of content for regular files
	Linkname string // target of a symlink
	// RdevMajor and RdevMinor are the device numbers of a character or
	// block device node.
	RdevMajor, RdevMinor uint32
}

// CPIOWriter writes a newc ("070701") cpio archive, the format the Linux
// kernel unpacks as an initramfs. It is deterministic: inode numbers are
// assigned in write order and every entry gets the same mtime.
type CPIOWriter struct {
	w     io.Writer
	ino   uint32
	mtime int64
	off   int64
	err   error
	names map[string]bool
}

// NewCPIOWriter returns a writer that gives every entry the modification
// time mtime (seconds since the Unix epoch; the SourceDateEpoch of a build).
func NewCPIOWriter(w io.Writer, mtime int64) *CPIOWriter {
	return &CPIOWriter{w: w, mtime: mtime, names: map[string]bool{}}
}

const cpioTrailer = "TRAILER!!!"

// WriteEntry writes e and, for a regular file, exactly e.Size bytes of
// content read from r (r may be nil otherwise).
func (c *CPIOWriter) WriteEntry(e CPIOEntry, r io.Reader) error {
	if c.err != nil {
		return c.err
	}
	name := strings.TrimPrefix(e.Name, "/")
	if name == "." || name == cpioTrailer || !fs.ValidPath(name) {
		return fmt.Errorf("%w: invalid entry name %q", ErrCPIO, e.Name)
	}
	if c.names[name] {
		return fmt.Errorf("%w: duplicate entry %q", ErrCPIO, name)
	}
	mode, err := cpioMode(e.Mode)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCPIO, name, err)
	}
	var data io.Reader
	size := int64(0)
	nlink := uint32(1)
	switch {
	case e.Mode.IsRegular():
		if e.Size < 0 || e.Size > 0xffffffff {
			return fmt.Errorf("%w: %s: size %d does not fit newc's 32 bits", ErrCPIO, name, e.Size)
		}
		if r == nil && e.Size > 0 {
			return fmt.Errorf("%w: %s: no content reader", ErrCPIO, name)
		}
		size, data = e.Size, r
	case e.Mode&fs.ModeSymlink != 0:
		if e.Linkname == "" {
			return fmt.Errorf("%w: %s: symlink without target", ErrCPIO, name)
		}
		size, data = int64(len(e.Linkname)), strings.NewReader(e.Linkname)
	case e.Mode.IsDir():
		nlink = 2
	}
	c.names[name] = true
	c.ino++
	if err := c.header(c.ino, mode, e.UID, e.GID, nlink, size, e.RdevMajor, e.RdevMinor, name); err != nil {
		return err
	}
	if data != nil {
		n, err := io.CopyN(c.w, data, size)
		c.off += n
		if err != nil {
			c.err = fmt.Errorf("%w: %s: content: %w", ErrCPIO, name, err)
			return c.err
		}
	}
	return c.pad()
}

// Close writes the trailer. It does not close the underlying writer.
func (c *CPIOWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	if err := c.header(0, 0, 0, 0, 1, 0, 0, 0, cpioTrailer); err != nil {
		return err
	}
	c.err = fmt.Errorf("%w: writer closed", ErrCPIO)
	return nil
}

func (c *CPIOWriter) header(ino, mode, uid, gid, nlink uint32, size int64, rmaj, rmin uint32, name string) error {
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, uid, gid, nlink, uint32(c.mtime), uint32(size), 0, 0, rmaj, rmin, len(name)+1, 0)
	if err := c.write([]byte(h + name + "\x00")); err != nil {
		return err
	}
	return c.pad()
}

func (c *CPIOWriter) pad() error {
	if n := c.off % 4; n != 0 {
		return c.write(make([]byte, 4-n))
	}
	return nil
}

func (c *CPIOWriter) write(b []byte) error {
	n, err := c.w.Write(b)
	c.off += int64(n)
	if err != nil {
		c.err = fmt.Errorf("%w: %w", ErrCPIO, err)
	}
	return c.err
}

// cpioMode encodes a FileMode as the Unix st_mode of a cpio header.
func cpioMode(m fs.FileMode) (uint32, error) {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	switch {
	case m.IsRegular():
		v |= 0o100000
	case m.IsDir():
		v |= 0o040000
	case m&fs.ModeSymlink != 0:
		v |= 0o120000
	case m&fs.ModeCharDevice != 0:
		v |= 0o020000
	case m&fs.ModeDevice != 0:
		v |= 0o060000
	case m&fs.ModeNamedPipe != 0:
		v |= 0o010000
	default:
		return 0, fmt.Errorf("unsupported file type %v", m.Type())
	}
	return v, nil
}
