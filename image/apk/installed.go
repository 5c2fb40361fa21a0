package apk

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// InstalledFile is one entry of a package in the installed database.
type InstalledFile struct {
	Name     string // relative path, e.g. "usr/bin/hello"
	Dir      bool
	UID, GID uint32
	Mode     uint32 // permission bits with setuid/setgid/sticky (0o4755)
	Checksum string // "Q1" + base64 SHA-1 of the content (files) or the target (symlinks)
}

// InstalledPackage is one stanza of the installed database.
type InstalledPackage struct {
	*Package
	Files []InstalledFile
}

// installedOrder is the field order of the installed database as
// Chainguard and Wolfi images carry it (written by apko; see
// testdata/apk/installed-db/wolfi-base at the module root): P V A L T o m U D p r q c
// i t S I k C, then the unknown fields, then the file list.
const installedOrder = "PVALTomUDprqcitSIkC"

// WriteInstalled writes an installed database (/usr/lib/apk/db/installed)
// that apk-tools and the scanners that read it (syft, grype, trivy)
// understand: one stanza per package, its files grouped under their
// directories (F: with M: for directory owners and modes other than
// 0:0:0755, R: with a: for owners and modes other than 0:0:0644, Z: with the
// content's Q1 checksum).
func WriteInstalled(w io.Writer, pkgs []InstalledPackage) error {
	bw := bufio.NewWriter(w)
	for _, ip := range pkgs {
		p := ip.Package
		fieldsOf := map[byte]string{
			'P': p.Name, 'V': p.Version, 'A': p.Arch, 'L': p.License, 'T': p.Description,
			'o': p.Origin, 'm': p.Maintainer, 'U': p.URL,
			'D': strings.Join(p.Depends, " "), 'p': strings.Join(p.Provides, " "),
			'r': strings.Join(p.Replaces, " "), 'c': p.Commit, 'i': strings.Join(p.InstallIf, " "),
			'S': strconv.FormatInt(p.Size, 10), 'I': strconv.FormatInt(p.InstalledSize, 10),
			'C': p.Checksum,
		}
		if p.ReplacesPriority != 0 {
			fieldsOf['q'] = strconv.FormatInt(p.ReplacesPriority, 10)
		}
		if p.BuildTime != 0 {
			fieldsOf['t'] = strconv.FormatInt(p.BuildTime, 10)
		}
		if p.ProviderPriority != 0 {
			fieldsOf['k'] = strconv.FormatInt(p.ProviderPriority, 10)
		}
		for i := 0; i < len(installedOrder); i++ {
			k := installedOrder[i]
			if v := fieldsOf[k]; v != "" || k == 'P' || k == 'V' {
				fmt.Fprintf(bw, "%c:%s\n", k, v)
			}
		}
		for _, f := range p.Extra {
			fmt.Fprintf(bw, "%c:%s\n", f.Key, f.Value)
		}
		writeFileList(bw, ip.Files)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// writeFileList groups files under their directories, directories in the
// order they first appear.
func writeFileList(w *bufio.Writer, files []InstalledFile) {
	type dir struct {
		f     *InstalledFile
		files []InstalledFile
	}
	dirs := map[string]*dir{}
	var order []string
	get := func(name string) *dir {
		d := dirs[name]
		if d == nil {
			d = &dir{}
			dirs[name] = d
			order = append(order, name)
		}
		return d
	}
	for i := range files {
		f := files[i]
		if f.Dir {
			get(f.Name).f = &files[i]
			continue
		}
		parent := path.Dir(f.Name)
		d := get(parent)
		d.files = append(d.files, f)
	}
	for _, name := range order {
		d := dirs[name]
		if name != "." {
			fmt.Fprintf(w, "F:%s\n", name)
			if d.f != nil && (d.f.UID != 0 || d.f.GID != 0 || d.f.Mode != 0o755) {
				fmt.Fprintf(w, "M:%d:%d:%04o\n", d.f.UID, d.f.GID, d.f.Mode)
			}
		}
		for _, f := range d.files {
			fmt.Fprintf(w, "R:%s\n", path.Base(f.Name))
			if f.UID != 0 || f.GID != 0 || f.Mode != 0o644 {
				fmt.Fprintf(w, "a:%d:%d:%04o\n", f.UID, f.GID, f.Mode)
			}
			if f.Checksum != "" {
				fmt.Fprintf(w, "Z:%s\n", f.Checksum)
			}
		}
	}
}

// ParseInstalled reads an installed database.
func ParseInstalled(r io.Reader) ([]InstalledPackage, error) {
	const what = "installed database"
	files := map[*Package][]InstalledFile{}
	dirOf := map[*Package]string{}
	parseOwner := func(v string, line int) (uint32, uint32, uint32, error) {
		parts := strings.Split(v, ":")
		if len(parts) != 3 {
			return 0, 0, 0, &FormatError{What: what, Line: line, Msg: "want uid:gid:mode, got " + strconv.Quote(v)}
		}
		u, err1 := strconv.ParseUint(parts[0], 10, 32)
		g, err2 := strconv.ParseUint(parts[1], 10, 32)
		m, err3 := strconv.ParseUint(parts[2], 8, 32)
		if err1 != nil || err2 != nil || err3 != nil || m > 0o7777 {
			return 0, 0, 0, &FormatError{What: what, Line: line, Msg: "want uid:gid:mode, got " + strconv.Quote(v)}
		}
		return uint32(u), uint32(g), uint32(m), nil
	}
	pkgs, err := parseStanzas(r, what, func(p *Package, k byte, v string, line int) (bool, error) {
		fl := files[p]
		switch k {
		case 'F':
			dirOf[p] = v
			files[p] = append(fl, InstalledFile{Name: v, Dir: true, Mode: 0o755})
			return true, nil
		case 'R':
			name := v
			if d := dirOf[p]; d != "" {
				name = d + "/" + v
			}
			files[p] = append(fl, InstalledFile{Name: name, Mode: 0o644})
			return true, nil
		case 'M', 'a', 'Z':
			if len(fl) == 0 || (k == 'M') != fl[len(fl)-1].Dir {
				return true, &FormatError{What: what, Line: line, Msg: string(k) + ": without the entry it belongs to"}
			}
			last := &fl[len(fl)-1]
			if k == 'Z' {
				last.Checksum = v
				return true, nil
			}
			u, g, m, err := parseOwner(v, line)
			last.UID, last.GID, last.Mode = u, g, m
			return true, err
		}
		return setIndexField(p, k, v, line, what)
	})
	if err != nil {
		return nil, err
	}
	out := make([]InstalledPackage, len(pkgs))
	for i, p := range pkgs {
		out[i] = InstalledPackage{Package: p, Files: files[p]}
	}
	return out, nil
}
