package image

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// WriteTar writes the tree as a reproducible tar: entries in Walk order
// (the root excluded), PAX format with numeric owners, xattrs as
// SCHILY.xattr records, hardlinks as links to their first name, times as
// recorded (a build clamps them to SourceDateEpoch). The same tree gives
// the same bytes.
func (r *Rootfs) WriteTar(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	first := map[*node]string{}
	buf := make([]byte, 1<<20)
	err := r.Walk(func(name string, fi fs.FileInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		n := fi.(*fileInfo).n
		h := &tar.Header{
			Name:    name,
			Mode:    unixMode(n.mode),
			Uid:     int(n.uid),
			Gid:     int(n.gid),
			ModTime: n.mtime,
			Format:  tar.FormatPAX,
		}
		for k, v := range n.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		switch {
		case n.mode&fs.ModeDir != 0:
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case n.mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, n.target
		default:
			if f, ok := first[n]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, f
				break
			}
			if n.nlink > 1 {
				first[n] = name
			}
			h.Typeflag, h.Size = tar.TypeReg, n.size
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("image: tar %s: %w", name, err)
		}
		if h.Typeflag != tar.TypeReg || n.size == 0 {
			return nil
		}
		f, err := os.Open(r.blobPath(n.blob))
		if err != nil {
			return fmt.Errorf("image: tar %s: %w", name, err)
		}
		defer f.Close()
		if _, err := io.CopyBuffer(tw, f, buf); err != nil {
			return fmt.Errorf("image: tar %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// unixMode converts Go mode bits to the st_mode permission bits of tar.
func unixMode(m fs.FileMode) int64 {
	u := int64(m & fs.ModePerm)
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// goMode converts tar st_mode permission bits to Go mode bits.
func goMode(u int64) fs.FileMode {
	m := fs.FileMode(u) & fs.ModePerm
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
