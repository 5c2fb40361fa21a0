package apk

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/pjbgf/sha1cd"
)

// Limits on untrusted archives. They are far above what real repositories
// carry and keep a hostile file from exhausting memory.
const (
	maxSignatureSize = 64 << 10  // one .SIGN.* entry
	maxControlSize   = 4 << 20   // one control entry (.PKGINFO, scripts)
	maxControlFiles  = 64        // entries in the control stream
	maxIndexText     = 512 << 20 // APKINDEX text
	// maxSignatureStream bounds the decompressed signature stream.
	maxSignatureStream = 1 << 20
	// maxSignatures bounds the signatures of one index or package.
	maxSignatures = 16
	// maxIndexEntries bounds the entries of an index stream (apk-tools
	// writes two: DESCRIPTION and APKINDEX).
	maxIndexEntries = 16
)

// Index is a verified repository index.
type Index struct {
	Description string     // DESCRIPTION
	Packages    []*Package // in file order
	Signer      string     // key that verified the index ("" if unsigned and allowed)
}

// readSignatures reads the entries of a signature stream. It returns
// (nil, false) if the stream's first entry is not a signature; then tr is
// positioned after that entry's header (first holds it).
func readSignatures(tr *tar.Reader) (sigs []signature, first *tar.Header, err error) {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return sigs, nil, nil
		}
		if err != nil {
			return nil, nil, sizeOr(fmt.Errorf("%w: signature stream: %v", ErrFormat, err), err)
		}
		alg, key, ok := parseSignatureName(h.Name)
		if !ok {
			if len(sigs) == 0 {
				return nil, h, nil
			}
			return nil, nil, fmt.Errorf("%w: %q among signatures", ErrFormat, h.Name)
		}
		if len(sigs) >= maxSignatures {
			return nil, nil, fmt.Errorf("%w: more than %d signatures", ErrFormat, maxSignatures)
		}
		if h.Size > maxSignatureSize || h.Size < 0 {
			return nil, nil, fmt.Errorf("%w: signature %s is %d bytes", ErrSize, h.Name, h.Size)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, sizeOr(fmt.Errorf("%w: signature %s: %v", ErrFormat, h.Name, err), err)
		}
		sigs = append(sigs, signature{alg: alg, key: key, data: data})
	}
}

// IndexOption changes how ReadIndex verifies an index.
type IndexOption func(*indexOptions) error

type indexOptions struct {
	allowUnsigned bool
	maxSize       int64
}

// WithUnsignedIndexUnsafe accepts an index without any signature. A signed
// index must still verify.
func WithUnsignedIndexUnsafe() IndexOption {
	return func(o *indexOptions) error { o.allowUnsigned = true; return nil }
}

// WithMaxIndexSize bounds the compressed size of the index (default 256 MiB).
func WithMaxIndexSize(n int64) IndexOption {
	return func(o *indexOptions) error {
		if n <= 0 {
			return fmt.Errorf("apk: max index size %d must be positive", n)
		}
		o.maxSize = n
		return nil
	}
}

// seekableAt returns r as an io.ReadSeeker and its current offset, or
// false when r cannot seek (or its offset cannot be had): a source that is
// read twice, its signed bytes hashed first, then read again.
func seekableAt(r io.Reader) (io.ReadSeeker, int64, bool) {
	rs, ok := r.(io.ReadSeeker)
	if !ok {
		return nil, 0, false
	}
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, 0, false
	}
	return rs, start, true
}

// ReadIndex reads and verifies an APKINDEX.tar.gz: its signatures
// (.SIGN.RSA.* over SHA-1, .SIGN.RSA256.* over SHA-256 of the compressed
// index stream), at least one by a key of k, then the APKINDEX text. what
// names the index in errors (its URL).
//
// Nothing of the signed stream is decompressed before its signature
// verified: the compressed bytes are hashed first (read twice when r is an
// io.ReadSeeker such as a file, else held in memory, bounded by
// [WithMaxIndexSize]), then decompressed and parsed within the limits
// maxIndexText and maxIndexEntries.
func ReadIndex(r io.Reader, k *Keyring, what string, opts ...IndexOption) (*Index, error) {
	idx, _, err := readIndex(r, k, what, opts...)
	return idx, err
}

// readIndex is ReadIndex returning the SHA-256 of the whole file too.
func readIndex(r io.Reader, k *Keyring, what string, opts ...IndexOption) (*Index, []byte, error) {
	o := indexOptions{maxSize: 256 << 20}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, nil, err
		}
	}
	what = "index " + what
	rs, start, seekable := seekableAt(r)
	whole := sha256.New()
	sr := newSegmentReader(io.TeeReader(r, whole), o.maxSize)
	zr, err := sr.nextStream()
	if err != nil {
		return nil, nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
	}
	sigStream := &boundedReader{r: zr, n: maxSignatureStream, what: "signature stream"}
	tr := tar.NewReader(sigStream)
	sigs, first, err := readSignatures(tr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if first != nil {
		// The first stream is the index itself: it carries no signature.
		if !o.allowUnsigned {
			return nil, nil, fmt.Errorf("%w: %s has no signature", ErrUnsigned, what)
		}
		sigStream.n = maxIndexText + maxSignatureStream // now the index text's bound
		idx, err := parseIndexTar(tr, first, what)
		if err != nil {
			return nil, nil, err
		}
		if _, err := io.Copy(io.Discard, sigStream); err != nil {
			return nil, nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
		}
		if !sr.atEOF() {
			return nil, nil, fmt.Errorf("%w: %s: data after the index stream", ErrFormat, what)
		}
		return idx, whole.Sum(nil), nil
	}
	// A signature stream: the signed index stream follows and runs to the
	// end of the file. Its compressed bytes are hashed before any of them
	// is decompressed.
	if _, err := io.Copy(io.Discard, sigStream); err != nil {
		return nil, nil, sizeOr(fmt.Errorf("%w: %s: signature stream: %v", ErrFormat, what, err), err)
	}
	h1, h256 := sha1.New(), sha256.New()
	tail := sr.tail(h1, h256)
	offset := sr.n
	var buf bytes.Buffer
	var sink io.Writer = &buf
	if seekable {
		sink = io.Discard
	}
	if _, err := io.Copy(sink, tail); err != nil {
		return nil, nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
	}
	sum256 := h256.Sum(nil)
	signer := ""
	if len(sigs) > 0 || !o.allowUnsigned {
		if signer, err = verifySignatures(k, what, sigs, map[crypto.Hash][]byte{crypto.SHA1: h1.Sum(nil), crypto.SHA256: sum256}); err != nil {
			return nil, nil, err
		}
	}

	// Verified: now decompress and parse, within limits.
	var src io.Reader = &buf
	again := sha256.New()
	if seekable {
		if _, err := rs.Seek(start+offset, io.SeekStart); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrFetch, what, err)
		}
		// Read again what was hashed, hashing it again: a file changed
		// between the two reads is refused below.
		src = io.TeeReader(io.LimitReader(rs, tail.n), again)
	}
	br := bufio.NewReaderSize(src, 64<<10)
	zr, err = gzip.NewReader(br)
	if err != nil {
		return nil, nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
	}
	zr.Multistream(false)
	text := &boundedReader{r: zr, n: maxIndexText + maxSignatureStream, what: "index stream"}
	tr = tar.NewReader(text)
	if first, err = tr.Next(); err != nil {
		return nil, nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
	}
	idx, err := parseIndexTar(tr, first, what)
	if err != nil {
		return nil, nil, err
	}
	if _, err := io.Copy(io.Discard, text); err != nil {
		return nil, nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
	}
	if n, err := io.Copy(io.Discard, br); err != nil || n > 0 {
		return nil, nil, fmt.Errorf("%w: %s: data after the index stream", ErrFormat, what)
	}
	if seekable && !bytes.Equal(again.Sum(nil), sum256) {
		return nil, nil, fmt.Errorf("%w: %s changed while it was read", ErrChecksum, what)
	}
	idx.Signer = signer
	return idx, whole.Sum(nil), nil
}

// parseIndexTar reads the entries of an index stream, first already read:
// the APKINDEX text (at most maxIndexText bytes) and the DESCRIPTION, among
// at most maxIndexEntries entries.
func parseIndexTar(tr *tar.Reader, first *tar.Header, what string) (*Index, error) {
	idx := &Index{}
	seenIndex := false
	n := 0
	for h := first; ; {
		if n++; n > maxIndexEntries {
			return nil, fmt.Errorf("%w: %s: more than %d entries", ErrFormat, what, maxIndexEntries)
		}
		switch h.Name {
		case "APKINDEX":
			if h.Size > maxIndexText {
				return nil, fmt.Errorf("%w: %s: APKINDEX of %d bytes (limit %d)", ErrSize, what, h.Size, maxIndexText)
			}
			if seenIndex {
				return nil, fmt.Errorf("%w: %s: two APKINDEX entries", ErrFormat, what)
			}
			pkgs, err := ParseIndex(tr)
			if err != nil {
				return nil, sizeOr(fmt.Errorf("%s: %w", what, err), err)
			}
			idx.Packages, seenIndex = pkgs, true
		case "DESCRIPTION":
			b, err := io.ReadAll(io.LimitReader(tr, 4096))
			if err != nil {
				return nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
			}
			idx.Description = strings.TrimSpace(string(b))
		}
		var err error
		if h, err = tr.Next(); err == io.EOF {
			break
		} else if err != nil {
			return nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
		}
	}
	if !seenIndex {
		return nil, fmt.Errorf("%w: %s: no APKINDEX inside", ErrFormat, what)
	}
	return idx, nil
}

// boundedReader reads at most n bytes of r and fails with ErrSize on the
// first byte past them.
type boundedReader struct {
	r    io.Reader
	n    int64
	what string
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		var one [1]byte
		if n, err := b.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w: %s is larger than its limit", ErrSize, b.what)
		} else if err != nil {
			return 0, err
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// sizeOr returns ErrSize wrapped if cause is a size-limit error, else err.
func sizeOr(err, cause error) error {
	if errors.Is(cause, ErrSize) {
		return fmt.Errorf("%w: %v", ErrSize, err)
	}
	return err
}

// PackageFile is what reading a .apk file learned about it.
type PackageFile struct {
	Info     *Package          // from .PKGINFO, in index form; Checksum and Size filled in
	DataHash string            // hex SHA-256 of the data stream, verified
	Signer   string            // key that signed the control stream
	Scripts  map[string][]byte // install scripts by name (".pre-install", …); never run
	Triggers []string          // trigger paths of .PKGINFO
	SHA256   digest.Digest     // "sha256:<hex>" of the whole file
	// Content is the bytes of regular files in the data stream: what
	// installing the package really adds, at most its declared installed
	// size.
	Content int64
}

// PackageOption changes how ReadPackage verifies a package.
type PackageOption func(*packageOptions) error

type packageOptions struct {
	allowUnsigned bool
	checksum      string
	size          int64
	installedSize int64
	maxSize       int64
}

// WithUnsignedPackageUnsafe accepts a package without a signature (its
// checksum must then match the one expected, if given).
func WithUnsignedPackageUnsafe() PackageOption {
	return func(o *packageOptions) error { o.allowUnsigned = true; return nil }
}

// WithExpected makes ReadPackage check the C: checksum and size the index
// gives for the package.
func WithExpected(checksum string, size int64) PackageOption {
	return func(o *packageOptions) error {
		if checksum != "" && !strings.HasPrefix(checksum, "Q1") && !strings.HasPrefix(checksum, "Q2") {
			return fmt.Errorf("%w: checksum %q (want Q1… or Q2…)", ErrFormat, checksum)
		}
		o.checksum, o.size = checksum, size
		return nil
	}
}

// WithExpectedInstalledSize makes ReadPackage refuse a data stream whose
// regular files hold more than n bytes: the I: the index gives for the
// package (n <= 0: only the size of .PKGINFO bounds it).
func WithExpectedInstalledSize(n int64) PackageOption {
	return func(o *packageOptions) error { o.installedSize = n; return nil }
}

// WithMaxPackageSize bounds the compressed size of a package (default 4 GiB).
func WithMaxPackageSize(n int64) PackageOption {
	return func(o *packageOptions) error {
		if n <= 0 {
			return fmt.Errorf("apk: max package size %d must be positive", n)
		}
		o.maxSize = n
		return nil
	}
}

// ReadPackage reads and verifies a .apk from r: the signature over the
// control stream by a key of k, the control stream's checksum (with SHA-1
// collision detection) against the expected one, and the data stream's
// SHA-256 against the datahash of .PKGINFO. fn receives each entry of the
// data stream, in order. When r is an io.ReadSeeker (a file, as the
// package cache gives), the data stream is hashed and checked against the
// datahash before a byte of it is decompressed, then read again (and
// hashed again) for fn. Otherwise its content is verified only when
// ReadPackage returns nil, so fn must stage what it reads and commit
// nothing before.
// What fn can receive is bounded first: no byte past the size
// [WithExpected] gives is read, and an entry that would bring the regular
// files past the declared installed size ([WithExpectedInstalledSize], the
// size of .PKGINFO) is refused with ErrSize before fn sees it.
// what names the package in errors.
func ReadPackage(r io.Reader, k *Keyring, what string, fn func(h *tar.Header, r io.Reader) error, opts ...PackageOption) (*PackageFile, error) {
	o := packageOptions{maxSize: 4 << 30}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	what = "package " + what
	// A seekable source is read twice: its data stream is verified before
	// it is parsed.
	rs, start, seekable := seekableAt(r)
	whole := sha256.New()
	limit := o.maxSize
	if o.size > 0 && o.size < limit {
		limit = o.size // the index's S: ends the file
	}
	sr := newSegmentReader(io.TeeReader(r, whole), limit)
	q1, c256 := sha1cd.New().(sha1cd.CollisionResistantHash), sha256.New()
	sr.hashWith(q1, c256)
	zr, err := sr.nextStream()
	if err != nil {
		return nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
	}
	tr := tar.NewReader(zr)
	sigs, first, err := readSignatures(tr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if first == nil {
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return nil, sizeOr(fmt.Errorf("%w: %s: %v", ErrFormat, what, err), err)
		}
		q1, c256 = sha1cd.New().(sha1cd.CollisionResistantHash), sha256.New()
		sr.hashWith(q1, c256)
		if zr, err = sr.nextStream(); err != nil {
			return nil, sizeOr(fmt.Errorf("%w: %s: control stream: %v", ErrFormat, what, err), err)
		}
		tr = tar.NewReader(zr)
		if first, err = tr.Next(); err != nil {
			return nil, sizeOr(fmt.Errorf("%w: %s: control stream: %v", ErrFormat, what, err), err)
		}
	}
	pf := &PackageFile{Scripts: map[string][]byte{}}
	var pkginfo []byte
	n := 0
	for h := first; ; {
		n++
		if n > maxControlFiles {
			return nil, fmt.Errorf("%w: %s: more than %d control entries", ErrFormat, what, maxControlFiles)
		}
		if h.Size > maxControlSize || h.Size < 0 {
			return nil, fmt.Errorf("%w: %s: control entry %s is %d bytes", ErrSize, what, h.Name, h.Size)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, sizeOr(fmt.Errorf("%w: %s: %s: %v", ErrFormat, what, h.Name, err), err)
		}
		switch name := strings.TrimPrefix(h.Name, "./"); {
		case name == ".PKGINFO":
			pkginfo = b
		case strings.HasPrefix(name, ".") && h.Typeflag == tar.TypeReg:
			pf.Scripts[name] = b
		default:
			return nil, fmt.Errorf("%w: %s: %q in the control stream", ErrFormat, what, h.Name)
		}
		if h, err = tr.Next(); err == io.EOF {
			break
		} else if err != nil {
			return nil, sizeOr(fmt.Errorf("%w: %s: control stream: %v", ErrFormat, what, err), err)
		}
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, sizeOr(fmt.Errorf("%w: %s: control stream: %v", ErrFormat, what, err), err)
	}
	sr.hashWith()
	sum, collision := q1.CollisionResistantSum(nil)
	if collision {
		return nil, fmt.Errorf("%w: %s: control stream", ErrSHA1Collision, what)
	}
	checksum := "Q1" + base64.StdEncoding.EncodeToString(sum)
	sum256 := c256.Sum(nil)
	if o.checksum != "" {
		got := checksum
		if strings.HasPrefix(o.checksum, "Q2") {
			got = "Q2" + base64.StdEncoding.EncodeToString(sum256)
		}
		if got != o.checksum {
			return nil, &ChecksumError{What: what + " control stream", Want: o.checksum, Got: got}
		}
	}
	switch {
	case len(sigs) > 0:
		if pf.Signer, err = verifySignatures(k, what, sigs, map[crypto.Hash][]byte{crypto.SHA1: sum, crypto.SHA256: sum256}); err != nil {
			return nil, err
		}
	case !o.allowUnsigned:
		return nil, fmt.Errorf("%w: %s has no signature", ErrUnsigned, what)
	}
	if pkginfo == nil {
		return nil, fmt.Errorf("%w: %s: no .PKGINFO", ErrFormat, what)
	}
	info, extra, err := ParsePkgInfo(bytes.NewReader(pkginfo))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	pf.Info, pf.DataHash, pf.Triggers = info, extra.DataHash, extra.Triggers
	info.Checksum = checksum
	if pf.DataHash == "" {
		return nil, fmt.Errorf("%w: %s: .PKGINFO has no datahash: its data is not covered by the signature", ErrVerify, what)
	}

	// Regular files may hold at most what the signed index (I:) and the
	// signed .PKGINFO (size) declare, whichever is smaller: a swapped data
	// stream stops at the first entry past it, before a byte of it is
	// handed to fn.
	bound := info.InstalledSize
	if o.installedSize > 0 && (bound == 0 || o.installedSize < bound) {
		bound = o.installedSize
	}

	// The data stream runs to the end of the file, so its datahash covers
	// every byte left: they are hashed as read, in large chunks, and the
	// decoder reads through a bufio.Reader (its fast path).
	dh := sha256.New()
	sr.hashWith()
	var data io.Reader
	var verifyData func() error
	wantData := strings.ToLower(pf.DataHash)
	if seekable {
		off := start + sr.n
		tail := sr.tail(dh)
		if _, err := io.Copy(io.Discard, tail); err != nil {
			return nil, sizeOr(fmt.Errorf("%w: %s: data stream: %v", ErrFormat, what, err), err)
		}
		if got := hex.EncodeToString(dh.Sum(nil)); got != wantData {
			return nil, &ChecksumError{What: what + " data stream (datahash)", Want: pf.DataHash, Got: got}
		}
		sr.n += tail.n
		if _, err := rs.Seek(off, io.SeekStart); err != nil {
			return nil, fmt.Errorf("%w: %s: data stream: %v", ErrFormat, what, err)
		}
		// Read again for fn, and hashed again: the bytes handed on must
		// be the ones that verified.
		again := sha256.New()
		data = io.TeeReader(io.LimitReader(rs, tail.n), again)
		verifyData = func() error {
			if got := hex.EncodeToString(again.Sum(nil)); got != wantData {
				return &ChecksumError{What: what + " data stream (datahash, changed between two reads)", Want: pf.DataHash, Got: got}
			}
			return nil
		}
	} else {
		tail := sr.tail(dh)
		data = tail
		verifyData = func() error {
			sr.n += tail.n
			if got := hex.EncodeToString(dh.Sum(nil)); got != wantData {
				return &ChecksumError{What: what + " data stream (datahash)", Want: pf.DataHash, Got: got}
			}
			return nil
		}
	}
	br := bufio.NewReaderSize(data, 256<<10)
	if zr, err = gzip.NewReader(br); err != nil {
		return nil, sizeOr(fmt.Errorf("%w: %s: data stream: %v", ErrFormat, what, err), err)
	}
	zr.Multistream(false)
	tr = tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, sizeOr(fmt.Errorf("%w: %s: data stream: %v", ErrFormat, what, err), err)
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == 0 { // 0: old archivers' regular file
			if h.Size < 0 || h.Size > bound-pf.Content {
				return nil, fmt.Errorf("%w: %s: %s would bring its files to %d bytes, more than the %d it declares", ErrSize, what, h.Name, pf.Content+h.Size, bound)
			}
			pf.Content += h.Size
		}
		if fn != nil {
			if err := fn(h, tr); err != nil {
				return nil, err
			}
		}
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, sizeOr(fmt.Errorf("%w: %s: data stream: %v", ErrFormat, what, err), err)
	}
	if n, err := io.Copy(io.Discard, br); err != nil || n > 0 {
		if err == nil {
			err = fmt.Errorf("%w: %s: %d bytes after the data stream", ErrFormat, what, n)
		}
		return nil, sizeOr(err, err)
	}
	if err := verifyData(); err != nil {
		return nil, err
	}
	if o.size > 0 && sr.n != o.size {
		return nil, fmt.Errorf("%w: %s is %d bytes, the index says %d", ErrSize, what, sr.n, o.size)
	}
	info.Size = sr.n
	pf.SHA256 = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(whole.Sum(nil)))
	return pf, nil
}

var _ hash.Hash = sha1cd.New()
