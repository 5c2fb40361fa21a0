package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// SBOMPredicateType is the in-toto predicate type of an SPDX document
// attested by [SBOMStatement] (the one cosign names "spdxjson").
const SBOMPredicateType = "https://spdx.dev/Document"

// MaxDocumentSize bounds every document the parsers of this package read
// (SBOMs, statements, bundles, reports): larger input is rejected with
// ErrTooLarge before it is decoded.
const MaxDocumentSize = 64 << 20

// maxDocumentSize is MaxDocumentSize; tests lower it to keep oversized
// inputs cheap.
var maxDocumentSize = MaxDocumentSize

// ImageID is the SPDX element id (without the SPDXRef- prefix) of the
// image package of an SBOM; OperatingSystemID is the prefix of the id of
// its distribution package ("OperatingSystem-wolfi"), the prefix trivy
// reads an operating system by.
const (
	ImageID           = "Image"
	OperatingSystemID = "OperatingSystem"
)

// SBOM returns the SPDX 2.3 document of an image: one package for the image,
// one for each disk artifact (with its SHA-256), one for the image's
// distribution ([LockDistribution]: named by its os-release ID, "wolfi",
// "chainguard" or "alpine", versioned by its VERSION_ID when the lock
// says, purpose OPERATING-SYSTEM) and one for each installed APK package of
// the lock (name, version, supplier and originator, declared license, purl
// with the distro qualifier, SHA-256 of the .apk, download location). The
// document DESCRIBES the image and each artifact (the image stays the
// subject); each artifact CONTAINS the image; the image CONTAINS the
// distribution, which CONTAINS every package. That is how scanners read an
// operating system: syft takes the distribution from the purls' distro
// qualifier, trivy from the OperatingSystem package and the packages under
// it. A lock of no known family gives no distribution package: the image
// CONTAINS the packages. Namespace and creation time derive from the
// inputs and the spec's SourceDateEpoch, so the same inputs give the same
// bytes.
func SBOM(lock *artifact.Lock, artifacts []artifact.Artifact, opts ...Option) (*spdx.Document, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := checkInputs(lock, artifacts); err != nil {
		return nil, err
	}
	ref := lock.Spec.Ref()
	name := ref.String()
	created := lock.Spec.Epoch().Format("2006-01-02T15:04:05Z")

	creators := []common.Creator{{CreatorType: "Tool", Creator: Creator}}
	for _, c := range o.creators {
		kind, who, _ := strings.Cut(c, ": ")
		creators = append(creators, common.Creator{CreatorType: kind, Creator: who})
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      name,
		DocumentNamespace: o.namespace + "/" + namespaceName(name) + "-" + inputsDigest(lock, artifacts)[:32],
		CreationInfo: &spdx.CreationInfo{
			Creators: creators,
			Created:  created,
		},
	}
	describe := func(id common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(id)),
			Relationship: common.TypeRelationshipDescribe,
		})
	}
	contains := func(a, b common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)),
			Relationship: common.TypeRelationshipContains,
		})
	}

	img := &spdx.Package{
		PackageName:             name,
		PackageSPDXIdentifier:   ImageID,
		PackageVersion:          ref.Version.String(),
		PackageSupplier:         &common.Supplier{Supplier: "NOASSERTION"},
		PackageDownloadLocation: "NOASSERTION",
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PrimaryPackagePurpose:   "OPERATING-SYSTEM",
		BuiltDate:               created,
		PackageComment: fmt.Sprintf("hardvm image %s: %d packages from the %s repository family", name,
			len(lock.Packages), lockFamily(lock)),
	}
	doc.Packages = append(doc.Packages, img)
	describe(ImageID)

	for _, a := range artifacts {
		h, _ := sha256Hex(a.Digest) // checked by checkInputs
		id := common.ElementID("Artifact-" + spdxIDPart(a.Name()))
		p := &spdx.Package{
			PackageName:             a.Name(),
			PackageSPDXIdentifier:   id,
			PackageVersion:          ref.Version.String(),
			PackageFileName:         a.Name(),
			PackageSupplier:         &common.Supplier{Supplier: "NOASSERTION"},
			PackageDownloadLocation: "NOASSERTION",
			PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: h}},
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  "NOASSERTION",
			PackageCopyrightText:    "NOASSERTION",
			PrimaryPackagePurpose:   "FILE",
			BuiltDate:               created,
			PackageComment:          artifactComment(a),
		}
		doc.Packages = append(doc.Packages, p)
		describe(id)
		contains(id, ImageID)
	}

	distro := LockDistribution(lock)
	parent := common.ElementID(ImageID)
	if distro.ID != "" {
		parent = common.ElementID(OperatingSystemID + "-" + spdxIDPart(distro.ID))
		os := &spdx.Package{
			PackageName:             distro.ID,
			PackageSPDXIdentifier:   parent,
			PackageVersion:          distro.VersionID,
			PackageSupplier:         &common.Supplier{Supplier: familySupplier(vm.RepositoryFamily(distro.ID)), SupplierType: "Organization"},
			PackageDownloadLocation: "NOASSERTION",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  "NOASSERTION",
			PackageCopyrightText:    "NOASSERTION",
			PrimaryPackagePurpose:   "OPERATING-SYSTEM",
			PackageComment:          "distribution of the image (os-release ID " + distro.ID + distroVersionComment(distro) + ")",
		}
		doc.Packages = append(doc.Packages, os)
		contains(ImageID, parent)
	}

	fams := repoFamilies(lock)
	ids := make(map[common.ElementID]string, len(lock.Packages))
	for _, pkg := range lock.Packages {
		id := common.ElementID("Package-" + spdxIDPart(pkg.Name) + "-" + spdxIDPart(pkg.Version))
		if prev, dup := ids[id]; dup {
			return nil, fmt.Errorf("%w: packages %q and %q map to the same SPDX id %s", ErrInput, prev, pkg.Name, id)
		}
		ids[id] = pkg.Name
		fam := packageFamily(lock, fams, pkg)
		p := &spdx.Package{
			PackageName:             pkg.Name,
			PackageSPDXIdentifier:   id,
			PackageVersion:          pkg.Version,
			PackageFileName:         apkFileName(pkg),
			PackageSupplier:         &common.Supplier{Supplier: familySupplier(fam), SupplierType: "Organization"},
			PackageDownloadLocation: downloadLocation(pkg),
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  spdxLicense(pkg.License),
			PackageCopyrightText:    "NOASSERTION",
			PackageHomePage:         pkg.URL,
			PackageSummary:          pkg.Description,
			PackageSourceInfo:       sourceInfo(pkg),
			PrimaryPackagePurpose:   "LIBRARY",
			PackageExternalReferences: []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: distroPurl(fam, pkg, distro),
			}},
		}
		if fam == "" {
			p.PackageSupplier = &common.Supplier{Supplier: "NOASSERTION"}
		}
		if who, ok := maintainer(pkg.Maintainer); ok {
			p.PackageOriginator = &common.Originator{Originator: who, OriginatorType: "Person"}
		}
		if pkg.SHA256 != "" {
			h, _ := sha256Hex(pkg.SHA256) // checked by checkInputs
			p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: h}}
		}
		if p.PackageDownloadLocation == "" {
			p.PackageDownloadLocation = "NOASSERTION"
		}
		doc.Packages = append(doc.Packages, p)
		contains(parent, id)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		return nil, fmt.Errorf("%w: SBOM does not validate: %v", ErrInput, err)
	}
	return doc, nil
}

// WriteSBOM writes doc as indented SPDX JSON. The encoding is stable.
func WriteSBOM(w io.Writer, doc *spdx.Document) error {
	return spdxjson.Write(doc, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false))
}

// MarshalSBOM returns doc as indented SPDX JSON.
func MarshalSBOM(doc *spdx.Document) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteSBOM(&b, doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ParseSBOM reads an SPDX 2.3 JSON document of at most [MaxDocumentSize]
// bytes, and checks it: version, data license, namespace, creation info,
// every package's SPDX id, and that every relationship names an element of
// the document.
func ParseSBOM(r io.Reader) (*spdx.Document, error) {
	b, err := readLimited("sbom", r)
	if err != nil {
		return nil, err
	}
	return parseSBOM(b)
}

func parseSBOM(b []byte) (doc *spdx.Document, err error) {
	defer func() {
		// tools-golang's converter is reflective; never let a hostile
		// document panic the caller.
		if p := recover(); p != nil {
			doc, err = nil, malformed("sbom", "", "decoder panic: %v", p)
		}
	}()
	var head struct {
		Version string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, malformed("sbom", "", "%v", err)
	}
	if head.Version != spdx.Version {
		return nil, malformed("sbom", "", "spdxVersion %q, want %q", head.Version, spdx.Version)
	}
	d, err := spdxjson.Read(bytes.NewReader(b))
	if err != nil {
		return nil, malformed("sbom", "", "%v", err)
	}
	switch {
	case d.DataLicense != spdx.DataLicense:
		return nil, malformed("sbom", "", "dataLicense %q, want %q", d.DataLicense, spdx.DataLicense)
	case d.SPDXIdentifier != "DOCUMENT":
		return nil, malformed("sbom", "", "SPDXID %q, want SPDXRef-DOCUMENT", d.SPDXIdentifier)
	case d.DocumentNamespace == "":
		return nil, malformed("sbom", "", "no documentNamespace")
	case d.CreationInfo == nil || d.CreationInfo.Created == "" || len(d.CreationInfo.Creators) == 0:
		return nil, malformed("sbom", "", "no creationInfo (created, creators)")
	}
	for i, p := range d.Packages {
		if p == nil || p.PackageSPDXIdentifier == "" || p.PackageName == "" {
			return nil, malformed("sbom", "", "packages[%d]: missing name or SPDXID", i)
		}
	}
	for i, r := range d.Relationships {
		if r == nil {
			return nil, malformed("sbom", "", "relationships[%d]: null", i)
		}
	}
	if err := spdxlib.ValidateDocument(d); err != nil {
		return nil, malformed("sbom", "", "%v", err)
	}
	return d, nil
}

// readLimited reads all of r, at most MaxDocumentSize bytes.
func readLimited(kind string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(maxDocumentSize)+1))
	if err != nil {
		return nil, &DocumentError{Kind: kind, Err: err}
	}
	if len(b) > maxDocumentSize {
		return nil, &DocumentError{Kind: kind, Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxDocumentSize)}
	}
	return b, nil
}

// checkInputs checks what SBOM and SLSA need from a lock and artifacts.
func checkInputs(lock *artifact.Lock, artifacts []artifact.Artifact) error {
	if lock == nil {
		return fmt.Errorf("%w: nil lock", ErrInput)
	}
	names := map[string]bool{}
	for i, a := range artifacts {
		if a.Name() == "" {
			return fmt.Errorf("%w: artifact %d has no path", ErrInput, i)
		}
		if names[a.Name()] {
			return fmt.Errorf("%w: two artifacts named %q", ErrInput, a.Name())
		}
		names[a.Name()] = true
		if _, err := sha256Hex(a.Digest); err != nil {
			return fmt.Errorf("%w: artifact %s: %v", ErrInput, a.Name(), err)
		}
	}
	seen := map[string]bool{}
	for _, p := range lock.Packages {
		if p.Name == "" || p.Version == "" {
			return fmt.Errorf("%w: lock package %q@%q: name and version are required", ErrInput, p.Name, p.Version)
		}
		if seen[p.Name] {
			return fmt.Errorf("%w: lock lists package %q twice", ErrInput, p.Name)
		}
		seen[p.Name] = true
		if p.SHA256 != "" {
			if _, err := sha256Hex(p.SHA256); err != nil {
				return fmt.Errorf("%w: package %s: %v", ErrInput, p.Name, err)
			}
		}
	}
	for _, r := range lock.Repositories {
		if r.IndexDigest != "" {
			if _, err := sha256Hex(r.IndexDigest); err != nil {
				return fmt.Errorf("%w: repository %s: index %v", ErrInput, r.URL, err)
			}
		}
	}
	return nil
}

// inputsDigest is the hex SHA-256 of the inputs a document derives from:
// the lock and the artifacts' names, formats and digests (not their host
// paths, so the same build in another directory gives the same documents).
func inputsDigest(lock *artifact.Lock, artifacts []artifact.Artifact) string {
	type art struct {
		Name, Format, Digest, RootHash string
	}
	in := struct {
		Lock      *artifact.Lock
		Artifacts []art
	}{Lock: lock}
	for _, a := range artifacts {
		in.Artifacts = append(in.Artifacts, art{a.Name(), string(a.Format), string(a.Digest), a.RootHash})
	}
	b, _ := json.Marshal(in) // plain data: cannot fail
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func lockFamily(lock *artifact.Lock) vm.RepositoryFamily {
	if lock.Family != "" {
		return lock.Family
	}
	return lock.Spec.RepositoryFamily()
}

func repoFamilies(lock *artifact.Lock) map[string]vm.RepositoryFamily {
	m := make(map[string]vm.RepositoryFamily, len(lock.Repositories))
	for _, r := range lock.Repositories {
		m[r.URL] = r.Family
	}
	for _, r := range lock.Spec.Repositories {
		if _, ok := m[r.URL]; !ok {
			m[r.URL] = r.Family
		}
	}
	return m
}

func packageFamily(lock *artifact.Lock, fams map[string]vm.RepositoryFamily, p artifact.Package) vm.RepositoryFamily {
	if f, ok := fams[p.Repository]; ok && f != "" {
		return f
	}
	return lockFamily(lock)
}

func familySupplier(f vm.RepositoryFamily) string {
	switch f {
	case vm.Wolfi:
		return "Wolfi"
	case vm.Chainguard:
		return "Chainguard, Inc."
	case vm.Alpine:
		return "Alpine Linux"
	}
	return string(f)
}

// maintainer turns an APK maintainer "Name <email>" into SPDX's
// "Name (email)".
func maintainer(m string) (string, bool) {
	m = strings.TrimSpace(m)
	if m == "" {
		return "", false
	}
	if i := strings.IndexByte(m, '<'); i >= 0 {
		if j := strings.IndexByte(m[i:], '>'); j > 0 {
			name := strings.TrimSpace(m[:i])
			email := strings.TrimSpace(m[i+1 : i+j])
			if name == "" {
				return email, true
			}
			return name + " (" + email + ")", true
		}
	}
	return m, true
}

func apkFileName(p artifact.Package) string { return p.Name + "-" + p.Version + ".apk" }

func downloadLocation(p artifact.Package) string {
	if p.Repository == "" {
		return "NOASSERTION"
	}
	base := strings.TrimRight(p.Repository, "/")
	if p.Arch != "" && !strings.HasSuffix(base, "/"+p.Arch) {
		base += "/" + p.Arch
	}
	return base + "/" + apkFileName(p)
}

func sourceInfo(p artifact.Package) string {
	var parts []string
	if p.Origin != "" && p.Origin != p.Name {
		parts = append(parts, "origin "+p.Origin)
	}
	if p.Commit != "" {
		parts = append(parts, "commit "+p.Commit)
	}
	if len(parts) == 0 {
		return ""
	}
	return "built from " + strings.Join(parts, ", ")
}

// spdxLicense returns l if it reads as an SPDX license expression, else
// NOASSERTION (APK indexes also hold free text such as "custom").
func spdxLicense(l string) string {
	l = strings.TrimSpace(l)
	if l == "" {
		return "NOASSERTION"
	}
	for _, f := range strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(l)) {
		switch f {
		case "AND", "OR", "WITH":
			continue
		}
		if !licenseID(f) {
			return "NOASSERTION"
		}
	}
	return l
}

// licenseID reports whether s looks like an SPDX license id or LicenseRef
// (letters, digits, '.', '-', '+', ':' with a letter or digit first).
func licenseID(s string) bool {
	if s == "" {
		return false
	}
	if c := s[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
		return false
	}
	if strings.EqualFold(s, "custom") || strings.EqualFold(s, "unknown") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == ':') {
			return false
		}
	}
	return true
}

// spdxIDPart maps s onto the characters an SPDX id allows.
func spdxIDPart(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

func namespaceName(s string) string {
	return strings.NewReplacer("/", "-", ":", "-", "+", "-", "@", "-").Replace(s)
}

func distroVersionComment(d Distribution) string {
	if d.VersionID == "" {
		return ", VERSION_ID not in the lock"
	}
	return ", VERSION_ID " + d.VersionID
}

func artifactComment(a artifact.Artifact) string {
	s := fmt.Sprintf("%s disk, virtual size %d bytes", a.Format, a.VirtualSize)
	if a.RootHash != "" {
		s += ", dm-verity root hash " + a.RootHash
	}
	return s
}
