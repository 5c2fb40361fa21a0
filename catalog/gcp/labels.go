package gcp

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// labelValue maps s to a GCE label value: lower-case letters, digits, _
// and -, at most 63 characters.
func labelValue(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return out
}

// refLabels returns the labels that let the catalog find an image again:
// each part of the Ref, and the digest of the raw disk (shortened to fit a
// label; the description carries it whole).
func refLabels(r vm.Ref) map[string]string {
	l := map[string]string{
		"hardvm-variant":  labelValue(r.Variant),
		"hardvm-platform": labelValue(string(r.Platform)),
		"hardvm-arch":     labelValue(string(r.Arch)),
		"hardvm-kernel":   labelValue(string(r.Kernel)),
		"hardvm-fips":     strconv.FormatBool(r.FIPS),
		"hardvm-version":  labelValue(r.Version.String()),
	}
	if r.Digest.Validate() == nil {
		hex := r.Digest.Encoded()
		l["hardvm-digest"] = string(r.Digest.Algorithm()) + "-" + hex[:min(len(hex), 56)]
	}
	return l
}

// imageName returns the GCE image name of a Ref: [a-z]([-a-z0-9]*[a-z0-9])?, at most 63.
func imageName(r vm.Ref) string {
	name := "hardvm-" + r.Variant
	if r.FIPS {
		name += "-fips"
	}
	name += "-" + string(r.Kernel) + "-" + strings.ReplaceAll(r.Version.String(), ".", "-")
	if r.Arch == vm.Aarch64 {
		name += "-arm64"
	}
	return labelValue(name)
}

// family returns the image family of a Ref's stream.
func family(r vm.Ref) string {
	f := "hardvm-" + r.Variant
	if r.FIPS {
		f += "-fips"
	}
	f += "-" + string(r.Kernel)
	if r.Arch == vm.Aarch64 {
		f += "-arm64"
	}
	return labelValue(f)
}

func gceArch(a vm.Arch) string {
	if a == vm.Aarch64 {
		return "ARM64"
	}
	return "X86_64"
}
