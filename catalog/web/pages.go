package web

import (
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// page is what every page's layout needs.
type page struct {
	Title  string
	Crumbs []link
	Loaded time.Time // when the catalog was loaded
}

type link struct {
	Text string
	URL  string
}

type errorPage struct {
	page
	Status  int
	Message string
}

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"short": shortDigest,
	"signed": func(n int64) string {
		if n > 0 {
			return "+" + humanBytes(n)
		}
		if n < 0 {
			return "−" + humanBytes(-n)
		}
		return "±0"
	},
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, u := float64(n)/unit, "KiB"
	for _, next := range []string{"MiB", "GiB", "TiB"} {
		if f < unit {
			break
		}
		f, u = f/unit, next
	}
	return fmt.Sprintf("%.1f %s", f, u)
}

// shortDigest shortens sha256:<hex> to its first 12 hex digits.
func shortDigest(d string) string {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) < 12 {
		return d
	}
	return h[:12]
}

// age says how long ago t was, in the largest unit.
func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d < 730*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month")
	}
	return plural(int(d/(365*24*time.Hour)), "year")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit + " ago"
	}
	return strconv.Itoa(n) + " " + unit + "s ago"
}

// URLs. Every path segment comes from a validated Ref or a name the entry
// records, and is escaped.
func streamURL(r vm.Ref) string {
	v := r.Variant
	if r.FIPS {
		v += "+fips"
	}
	return "/s/" + url.PathEscape(v) + "/" + url.PathEscape(string(r.Platform)) + "/" + url.PathEscape(string(r.Arch)) + "/" + url.PathEscape(string(r.Kernel))
}

func versionURL(r vm.Ref) string {
	return "/v" + strings.TrimPrefix(streamURL(r), "/s") + "/" + url.PathEscape(r.Version.String())
}

func fileURL(r vm.Ref, name string) string { return versionURL(r) + "/files/" + url.PathEscape(name) }

// badge is a verification state as a page shows it.
type badge struct {
	State   State
	Text    string
	Checked time.Time
	Failed  int
}

func badgeOf(v *Verification, verifying bool) badge {
	switch {
	case !verifying:
		return badge{State: Unchecked, Text: "not verified by this server (no key or policy)"}
	case v == nil:
		return badge{State: Unchecked, Text: "not checked yet"}
	}
	b := badge{State: v.State, Checked: v.Checked, Failed: len(v.Failed())}
	switch v.State {
	case Verified:
		b.Text = "verified"
	case Failed:
		b.Text = fmt.Sprintf("verification failed (%d rules)", b.Failed)
	case Incomplete:
		b.Text = "incomplete: files not available"
	}
	return b
}

// The directory.

type dirPage struct {
	page
	Filter    filter
	Families  []string
	Variants  []string
	Platforms []string
	Arches    []string
	Tracks    []string
	Rows      []dirRow
	Streams   int // in the catalog
	Entries   int
	Invalid   []string
	Searching bool
}

type dirRow struct {
	Stream     string
	URL        string
	Family     vm.Family
	Ref        vm.Ref // of the latest version
	VersionURL string
	Published  time.Time
	Age        string
	Kernel     string
	Packages   int
	Installed  int64
	Versions   int
	Badge      badge
	Deprecated *catalog.Deprecation
	Matches    []link // with a package search: the versions that contain it, newest first (at most 5)
	MoreMatch  int

	matches []*version // all of them
}

func parseFilter(q url.Values) filter {
	return filter{Family: q.Get("family"), Variant: q.Get("variant"), Platform: q.Get("platform"), Arch: q.Get("arch"),
		Track: q.Get("track"), FIPS: q.Get("fips"), Package: strings.TrimSpace(q.Get("package")), Version: strings.TrimSpace(q.Get("version"))}
}

func (h *Handler) dirPage(r *http.Request) (*dirPage, error) {
	f := parseFilter(r.URL.Query())
	if err := f.validate(); err != nil {
		return nil, err
	}
	s, err := h.snapshot(r.Context())
	if err != nil {
		return nil, err
	}
	now := h.o.now()
	p := &dirPage{page: page{Title: "hardvm images", Loaded: s.loaded}, Filter: f, Streams: len(s.streams), Entries: s.entries, Invalid: s.invalid, Searching: f.Package != ""}
	for _, fam := range vm.Families() {
		p.Families = append(p.Families, string(fam))
	}
	for _, v := range vm.Variants() {
		p.Variants = append(p.Variants, v.Name)
	}
	for _, c := range vm.Clouds() {
		p.Platforms = append(p.Platforms, string(c))
	}
	for _, a := range vm.Arches() {
		p.Arches = append(p.Arches, string(a))
	}
	for _, t := range vm.KernelTracks() {
		p.Tracks = append(p.Tracks, string(t))
	}
	streams, matches := s.streamsOf(f)
	for _, st := range streams {
		v := st.latest(now)
		row := dirRow{Stream: st.key, URL: streamURL(st.ref), Family: st.family, Ref: v.e.Ref, VersionURL: versionURL(v.e.Ref),
			Published: v.e.Published, Age: age(now, v.e.Published), Kernel: v.e.Kernel, Packages: len(v.pkgs),
			Installed: v.e.InstalledSize, Versions: len(st.versions), Badge: badgeOf(h.cached(&v.e), h.o.verifier != nil)}
		if v.e.DeprecatedAt(now) {
			row.Deprecated = v.e.Deprecation
		}
		row.matches = matches[st]
		for i, m := range matches[st] {
			if i == 5 {
				row.MoreMatch = len(matches[st]) - 5
				break
			}
			row.Matches = append(row.Matches, link{m.e.Ref.Version.String(), versionURL(m.e.Ref)})
		}
		p.Rows = append(p.Rows, row)
	}
	return p, nil
}

func (h *Handler) directory(w http.ResponseWriter, r *http.Request) {
	p, err := h.dirPage(r)
	if err != nil {
		h.fail(w, r, statusOf(err), err)
		return
	}
	h.render(w, r, http.StatusOK, "directory.html", p)
}

// The stream page.

type streamPage struct {
	page
	Stream     string
	Ref        vm.Ref
	Variant    vm.Variant
	Latest     versionRow
	Locations  []locationRow
	Rows       []versionRow
	Charts     []template.HTML
	Versions   int
	PageN      int
	Pages      int
	Prev, Next string // page URLs
	Package    string // a package search carried from the directory
	PackageVer string
	Deprecated int
}

type versionRow struct {
	Ref         vm.Ref
	URL         string
	Published   time.Time
	Kernel      string
	Packages    int
	Installed   int64
	Disks       []catalog.DiskChange // size of each format (From unused)
	Delta       *catalog.Delta
	Summary     string
	Deprecation *catalog.Deprecation
	Replacement string // URL of the replacement, when in the catalog
	Badge       badge
	Contains    bool // contains the searched package
}

type locationRow struct {
	Target vm.Cloud
	Region string
	ID     string
	URI    string
	Format vm.DiskFormat
	Digest string
	CopyOf string // the ID this is a copy of
}

func locationsOf(e *catalog.Entry) []locationRow {
	var out []locationRow
	for _, l := range e.Locations {
		out = append(out, locationRow{l.Target, l.Region, l.ID, l.URI, l.Format, string(l.Digest), ""})
		for _, c := range l.Copies {
			t := c.Target
			if t == "" {
				t = l.Target
			}
			out = append(out, locationRow{t, c.Region, c.ID, c.URI, cmp.Or(c.Format, l.Format), string(cmp.Or(c.Digest, l.Digest)), l.ID})
		}
	}
	return out
}

func (h *Handler) row(s *snapshot, v *version, now time.Time, withDelta bool) versionRow {
	row := versionRow{Ref: v.e.Ref, URL: versionURL(v.e.Ref), Published: v.e.Published, Kernel: v.e.Kernel, Packages: len(v.pkgs),
		Installed: v.e.InstalledSize, Badge: badgeOf(h.cached(&v.e), h.o.verifier != nil)}
	for _, a := range v.e.Artifacts {
		row.Disks = append(row.Disks, catalog.DiskChange{Format: a.Format, Size: catalog.SizeChange{To: a.Size}})
	}
	if withDelta {
		if d, ok := s.delta(v); ok {
			row.Delta, row.Summary = d, d.Summary()
		} else {
			row.Summary = "first version in the catalog"
		}
	}
	if v.e.DeprecatedAt(now) {
		row.Deprecation = v.e.Deprecation
		if rp := v.e.Deprecation.Replacement; rp != nil {
			if _, ok := s.version(*rp); ok {
				row.Replacement = versionURL(*rp)
			}
		}
	}
	return row
}

func (h *Handler) streamPage(r *http.Request) (*streamPage, error) {
	ref, err := refOf(r, false)
	if err != nil {
		return nil, err
	}
	s, err := h.snapshot(r.Context())
	if err != nil {
		return nil, err
	}
	st, ok := s.byKey[ref.Stream()]
	if !ok {
		return nil, fmt.Errorf("%w: stream %s", catalog.ErrNotFound, ref.Stream())
	}
	now := h.o.now()
	q := r.URL.Query()
	variant, _ := vm.LookupVariant(st.ref.Variant)
	p := &streamPage{page: page{Title: st.key, Loaded: s.loaded, Crumbs: []link{{"images", "/"}}}, Stream: st.key, Ref: st.ref,
		Variant: variant, Versions: len(st.versions), Package: strings.TrimSpace(q.Get("package")), PackageVer: strings.TrimSpace(q.Get("version"))}
	latest := st.latest(now)
	p.Latest = h.row(s, latest, now, true)
	p.Locations = locationsOf(&latest.e)
	for _, v := range st.versions {
		if v.e.DeprecatedAt(now) {
			p.Deprecated++
		}
	}
	size := h.o.pageSize
	p.Pages = (len(st.versions) + size - 1) / size
	p.PageN = 1
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n >= 1 && n <= p.Pages {
		p.PageN = n
	}
	var ids []uint32
	if p.Package != "" && len(p.Package) <= 256 && len(p.PackageVer) <= 256 {
		ids = s.pkgMatch(p.Package, p.PackageVer)
	}
	// Newest first.
	hi := len(st.versions) - (p.PageN-1)*size
	lo := max(0, hi-size)
	for i := hi - 1; i >= lo; i-- {
		row := h.row(s, st.versions[i], now, true)
		row.Contains = len(ids) > 0 && st.versions[i].contains(ids)
		p.Rows = append(p.Rows, row)
	}
	pageURL := func(n int) string {
		v := url.Values{}
		for _, k := range []string{"package", "version"} {
			if q.Get(k) != "" {
				v.Set(k, q.Get(k))
			}
		}
		v.Set("page", strconv.Itoa(n))
		return streamURL(st.ref) + "?" + v.Encode()
	}
	if p.PageN > 1 {
		p.Prev = pageURL(p.PageN - 1)
	}
	if p.PageN < p.Pages {
		p.Next = pageURL(p.PageN + 1)
	}
	p.Charts = streamCharts(s, st)
	return p, nil
}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	p, err := h.streamPage(r)
	if err != nil {
		h.fail(w, r, statusOf(err), err)
		return
	}
	h.render(w, r, http.StatusOK, "stream.html", p)
}

// The version page.

type versionPage struct {
	page
	Entry        catalog.Entry
	Row          versionRow
	StreamURL    string
	PrevURL      string
	NextURL      string
	Artifacts    []fileRow
	Attachments  []fileRow
	Locations    []locationRow
	Reference    string // where the catalog itself keeps the image (OCI)
	Verifying    bool
	Verification *Verification
	Badge        badge
	Rules        []provenance.Rule
	SBOM         *sbomTable
	Provenance   *provView
	FIPS         *fipsView
	RootHash     string // the signed verity root hash, once verified
	RecordedRoot string // the catalog's (unsigned) record
}

type fileRow struct {
	Name      string
	Kind      string
	Format    vm.DiskFormat
	MediaType string
	Size      int64
	Virtual   int64
	Digest    string
	RootHash  string
	URL       string
}

// attachmentName is the download name of an attachment.
func attachmentName(k catalog.AttachmentKind) string {
	switch k {
	case catalog.SBOM:
		return builddir.SBOMFile
	case catalog.Provenance:
		return builddir.ProvenanceFile
	case catalog.Bundle:
		return "provenance" + builddir.BundleSuffix
	case catalog.SBOMBundle:
		return builddir.SBOMBundle
	case catalog.FIPSReport:
		return builddir.FIPSReportFile
	case catalog.FIPSBundle:
		return builddir.FIPSBundle
	}
	return string(k)
}

func (h *Handler) versionPage(r *http.Request) (*versionPage, error) {
	ref, err := refOf(r, true)
	if err != nil {
		return nil, err
	}
	s, err := h.snapshot(r.Context())
	if err != nil {
		return nil, err
	}
	v, ok := s.version(ref)
	if !ok {
		return nil, fmt.Errorf("%w: %s", catalog.ErrNotFound, ref)
	}
	now := h.o.now()
	e := s.entry(v)
	ver, err := h.verification(r.Context(), e)
	if err != nil {
		return nil, err
	}
	p := &versionPage{page: page{Title: e.Ref.Stream() + ":" + e.Ref.Version.String(), Loaded: s.loaded,
		Crumbs: []link{{"images", "/"}, {e.Ref.Stream(), streamURL(e.Ref)}}},
		Entry: e, Row: h.row(s, v, now, true), StreamURL: streamURL(e.Ref), Locations: locationsOf(&e),
		Verifying: h.o.verifier != nil, Verification: ver, Badge: badgeOf(ver, h.o.verifier != nil)}
	p.Row.Badge = p.Badge
	if pv, ok := v.previous(); ok {
		p.PrevURL = versionURL(pv.e.Ref)
	}
	if nv, ok := v.next(); ok {
		p.NextURL = versionURL(nv.e.Ref)
	}
	if rf, ok := h.store.(interface{ Reference(vm.Ref) string }); ok {
		p.Reference = rf.Reference(e.Ref)
	}
	for _, a := range e.Artifacts {
		p.Artifacts = append(p.Artifacts, fileRow{Name: a.Name, Format: a.Format, Size: a.Size, Virtual: a.VirtualSize, Digest: string(a.Digest), RootHash: a.RootHash, URL: fileURL(e.Ref, a.Name)})
		if a.Format == vm.FormatRaw || (p.RecordedRoot == "" && a.RootHash != "") {
			p.RecordedRoot = cmp.Or(a.RootHash, p.RecordedRoot)
		}
	}
	for _, a := range e.Attachments {
		p.Attachments = append(p.Attachments, fileRow{Name: attachmentName(a.Kind), Kind: string(a.Kind), MediaType: a.MediaType, Size: a.Size, Digest: string(a.Digest), URL: fileURL(e.Ref, string(a.Kind))})
	}
	if ver != nil {
		p.Rules = ver.Rules
		p.RootHash = ver.RootHash
		if ver.sbom != nil {
			p.SBOM = sbomOf(ver.sbom, ver.sbomSigned, r.URL.Query(), versionURL(e.Ref))
		}
		if ver.prov != nil {
			p.Provenance = provOf(ver.prov, ver.provSigned)
		}
		if ver.fipsReport != nil {
			p.FIPS = &fipsView{Signed: ver.fipsSigned, Report: ver.fipsReport}
		}
	}
	return p, nil
}

func (h *Handler) version(w http.ResponseWriter, r *http.Request) {
	p, err := h.versionPage(r)
	if err != nil {
		h.fail(w, r, statusOf(err), err)
		return
	}
	h.render(w, r, http.StatusOK, "version.html", p)
}

// sortKeys are the SBOM table's columns.
var sortKeys = []string{"name", "version", "license", "purl"}

func validSort(k string) bool { return slices.Contains(sortKeys, k) }
