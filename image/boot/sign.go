package boot

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"sort"
	"unicode/utf16"
)

// Signer is a Secure Boot db key: the certificate enrolled in the firmware's
// db and its private key (RSA: what UEFI firmware verifies).
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

var (
	oidSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSHA256            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidContentType       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSpcIndirectData   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidSpcPEImageData    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}
	oidSpcSpOpusInfo     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 12}
	oidSpcStatementType  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 11}
	oidSpcIndividualSign = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 21}
)

// Sign returns a copy of the PE image pe with an Authenticode signature by s
// (a PKCS#7 SignedData over the image's SHA-256 Authenticode digest) in its
// certificate table, the form UEFI Secure Boot and `sbverify --cert` check.
// An existing signature is replaced. With an RSA key the result is
// deterministic: the same image and key give the same bytes.
func Sign(pe []byte, s Signer) ([]byte, error) {
	if s.Cert == nil || s.Key == nil {
		return nil, fmt.Errorf("%w: no certificate or key", ErrSign)
	}
	if _, ok := s.Key.Public().(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: key is %T, UEFI Secure Boot needs RSA", ErrSign, s.Key.Public())
	}
	if !publicKeysEqual(s.Cert.PublicKey, s.Key.Public()) {
		return nil, fmt.Errorf("%w: the key does not belong to certificate %q", ErrSign, s.Cert.Subject)
	}
	p, err := parsePE(append([]byte(nil), pe...))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSign, err)
	}
	// Drop an old signature, then pad to the 8-byte alignment the
	// certificate table needs; the padding is part of the signed image.
	d := p.dirOff(dirSecurity)
	if off, size := le.Uint32(p.data[d:]), le.Uint32(p.data[d+4:]); size != 0 {
		if uint64(off)+uint64(size) != uint64(len(p.data)) || off < p.rawEnd() {
			return nil, fmt.Errorf("%w: existing certificate table [%#x,+%#x) is not at the end of the file", ErrSign, off, size)
		}
		p.data = p.data[:off]
		le.PutUint64(p.data[d:], 0)
	}
	if n := len(p.data) % 8; n != 0 {
		p.data = append(p.data, make([]byte, 8-n)...)
	}
	digest, err := authenticodeDigest(p)
	if err != nil {
		return nil, err
	}
	sig, err := signedData(digest, s)
	if err != nil {
		return nil, err
	}
	// WIN_CERTIFICATE: dwLength, wRevision 2.0, WIN_CERT_TYPE_PKCS_SIGNED_DATA.
	cert := make([]byte, 8, 8+len(sig)+8)
	le.PutUint32(cert[0:], uint32(8+len(sig)))
	le.PutUint16(cert[4:], 0x0200)
	le.PutUint16(cert[6:], 0x0002)
	cert = append(cert, sig...)
	if n := len(cert) % 8; n != 0 {
		cert = append(cert, make([]byte, 8-n)...)
	}
	le.PutUint32(p.data[d:], uint32(len(p.data)))
	le.PutUint32(p.data[d+4:], uint32(len(cert)))
	p.data = append(p.data, cert...)
	le.PutUint32(p.data[p.checksumOff():], peChecksum(p.data, p.checksumOff()))
	return p.data, nil
}

// AuthenticodeDigest returns the SHA-256 Authenticode digest of an unsigned
// or signed PE image: what a Secure Boot db or dbx entry for it holds.
func AuthenticodeDigest(pe []byte) ([]byte, error) {
	p, err := parsePE(pe)
	if err != nil {
		return nil, err
	}
	return authenticodeDigest(p)
}

// authenticodeDigest hashes the image as the Authenticode specification
// says: the headers without the checksum and the certificate table entry,
// the sections in file order, then the data after them up to the
// certificate table.
func authenticodeDigest(p *peFile) ([]byte, error) {
	h := sha256.New()
	b := p.data
	cs, sd := p.checksumOff(), p.dirOff(dirSecurity)
	h.Write(b[:cs])
	h.Write(b[cs+4 : sd])
	h.Write(b[sd+8 : p.sizeHeaders])
	end := uint64(len(b))
	if off, size := le.Uint32(b[sd:]), le.Uint32(b[sd+4:]); size != 0 {
		if uint64(off)+uint64(size) > end || off < p.sizeHeaders {
			return nil, fmt.Errorf("%w: certificate table [%#x,+%#x) out of range", ErrSign, off, size)
		}
		end = uint64(off)
	}
	var secs []peSection
	for _, s := range p.sections {
		if s.RawSize > 0 {
			secs = append(secs, s)
		}
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i].RawPtr < secs[j].RawPtr })
	pos := uint64(p.sizeHeaders)
	for _, s := range secs {
		if uint64(s.RawPtr)+uint64(s.RawSize) > end {
			return nil, fmt.Errorf("%w: section %q overlaps the certificate table", ErrSign, s.Name)
		}
		h.Write(b[s.RawPtr : s.RawPtr+s.RawSize])
		pos = max(pos, uint64(s.RawPtr)+uint64(s.RawSize))
	}
	if pos < end {
		h.Write(b[pos:end])
	}
	return h.Sum(nil), nil
}

// signedData builds the PKCS#7 SignedData of Authenticode (as sbsign and
// osslsigncode write it) around an SpcIndirectDataContent with the digest.
func signedData(digest []byte, s Signer) ([]byte, error) {
	sha256Alg := seq(oid(oidSHA256), []byte{0x05, 0x00})
	// SpcPeImageData: flags (empty bit string), file [0] SpcLink
	// file [2] SpcString unicode [0] "<<<Obsolete>>>".
	obsolete := utf16be("<<<Obsolete>>>")
	peImageData := seq([]byte{0x03, 0x01, 0x00}, tlv(0xa0, tlv(0xa2, tlv(0x80, obsolete))))
	idc := seq(
		seq(oid(oidSpcPEImageData), peImageData),
		seq(sha256Alg, tlv(0x04, digest)),
	)
	// The message digest covers the content octets of the SEQUENCE, not its
	// tag and length (an Authenticode quirk).
	idcContent := idc[len(idc)-contentLen(idc):]
	md := sha256.Sum256(idcContent)
	attrs := [][]byte{
		seq(oid(oidContentType), set(oid(oidSpcIndirectData))),
		seq(oid(oidMessageDigest), set(tlv(0x04, md[:]))),
		seq(oid(oidSpcSpOpusInfo), set(seq())),
		seq(oid(oidSpcStatementType), set(seq(oid(oidSpcIndividualSign)))),
	}
	// DER orders a SET OF by the encodings of its members.
	sort.Slice(attrs, func(i, j int) bool { return bytes.Compare(attrs[i], attrs[j]) < 0 })
	attrSet := set(attrs...)
	ah := sha256.Sum256(attrSet)
	sig, err := s.Key.Sign(rand.Reader, ah[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSign, err)
	}
	serial, err := asn1.Marshal(s.Cert.SerialNumber)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate serial: %w", ErrSign, err)
	}
	signerInfo := seq(
		[]byte{0x02, 0x01, 0x01},
		seq(s.Cert.RawIssuer, serial),
		sha256Alg,
		append([]byte{0xa0}, attrSet[1:]...), // [0] IMPLICIT SET OF Attribute
		seq(oid(oidRSAEncryption), []byte{0x05, 0x00}),
		tlv(0x04, sig),
	)
	sd := seq(
		[]byte{0x02, 0x01, 0x01},
		set(sha256Alg),
		seq(oid(oidSpcIndirectData), tlv(0xa0, idc)),
		tlv(0xa0, s.Cert.Raw),
		set(signerInfo),
	)
	return seq(oid(oidSignedData), tlv(0xa0, sd)), nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}

// tlv encodes one DER element with a definite length.
func tlv(tag byte, content ...[]byte) []byte {
	n := 0
	for _, c := range content {
		n += len(c)
	}
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	for _, c := range content {
		out = append(out, c...)
	}
	return out
}

func seq(content ...[]byte) []byte { return tlv(0x30, content...) }
func set(content ...[]byte) []byte { return tlv(0x31, content...) }

func oid(o asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(o)
	if err != nil {
		panic(err) // only constant, valid OIDs reach here
	}
	return b
}

// contentLen returns the length of the content of the DER element b.
func contentLen(b []byte) int {
	if b[1] < 0x80 {
		return int(b[1])
	}
	n := 0
	for _, c := range b[2 : 2+int(b[1]&0x7f)] {
		n = n<<8 | int(c)
	}
	return n
}

func utf16be(s string) []byte {
	var out []byte
	for _, r := range utf16.Encode([]rune(s)) {
		out = append(out, byte(r>>8), byte(r))
	}
	return out
}
