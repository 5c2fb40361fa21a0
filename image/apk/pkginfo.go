package apk

import (
	"bufio"
	"io"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkdb"
	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// PkgInfoExtra holds what .PKGINFO says beyond the index fields.
type PkgInfoExtra struct {
	DataHash string   // datahash: hex SHA-256 of the data stream
	Triggers []string // triggers
	Packager string   // packager
}

// ParsePkgInfo parses a .PKGINFO file ("key = value" lines, # comments) into
// the index form of the package. Repeated keys (depend, provides, replaces,
// install_if, triggers) accumulate; unknown keys are ignored, as apk-tools
// ignores them.
func ParsePkgInfo(r io.Reader) (*Package, PkgInfoExtra, error) {
	const what = ".PKGINFO"
	var (
		p     Package
		extra PkgInfoExtra
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), apkdb.MaxLine)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if s == "" || s[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(s, " = ")
		if !ok {
			// "url =" with an empty value has no trailing space.
			if k, ok = strings.CutSuffix(s, " ="); !ok {
				return nil, extra, &FormatError{What: what, Line: line, Msg: "want key = value, got " + strconv.Quote(s)}
			}
		}
		var err error
		switch k {
		case "pkgname":
			p.Name = v
		case "pkgver":
			p.Version = v
		case "pkgdesc":
			p.Description = v
		case "url":
			p.URL = v
		case "builddate":
			p.BuildTime, err = parseNum(what, line, 't', v)
		case "packager":
			extra.Packager = v
		case "maintainer":
			p.Maintainer = v
		case "size":
			p.InstalledSize, err = parseNum(what, line, 'I', v)
		case "arch":
			p.Arch = v
		case "origin":
			p.Origin = v
		case "commit":
			p.Commit = v
		case "license":
			p.License = v
		case "depend":
			p.Depends = append(p.Depends, strings.Fields(v)...)
		case "provides":
			p.Provides = append(p.Provides, strings.Fields(v)...)
		case "replaces":
			p.Replaces = append(p.Replaces, strings.Fields(v)...)
		case "install_if":
			p.InstallIf = append(p.InstallIf, strings.Fields(v)...)
		case "provider_priority":
			p.ProviderPriority, err = parseNum(what, line, 'k', v)
		case "replaces_priority":
			p.ReplacesPriority, err = parseNum(what, line, 'q', v)
		case "triggers":
			extra.Triggers = append(extra.Triggers, strings.Fields(v)...)
		case "datahash":
			extra.DataHash = v
		}
		if err != nil {
			return nil, extra, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, extra, &FormatError{What: what, Msg: err.Error()}
	}
	if p.Name == "" {
		return nil, extra, &FormatError{What: what, Msg: "no pkgname"}
	}
	if !apkversion.Valid(p.Version) {
		return nil, extra, &FormatError{What: what, Msg: "pkgver " + strconv.Quote(p.Version) + " is not a valid version"}
	}
	return &p, extra, nil
}
