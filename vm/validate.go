package vm

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Limits on spec values.
const (
	MinDiskSize = 256 * MiB
	MaxDiskSize = 2 << 40
	// MaxSourceDateEpoch is the last second a build's clock may name,
	// 9999-12-31T23:59:59Z: versions (YYYYMMDD.HHMMSS) and the RFC 3339
	// timestamps of signed documents have four-digit years.
	MaxSourceDateEpoch = 253402300799
	maxUsers           = 64
	maxPackages        = 4096
	// maxLabels bounds the labels of a spec (clouds allow 50 to 64 tags or
	// labels on an image).
	maxLabels = 256
)

var (
	userRe     = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	driverRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,55}$`)
	hostnameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// A world entry: name, optional @tag pin, optional constraint; or !name.
	worldRe  = regexp.MustCompile(`^!?[A-Za-z0-9][A-Za-z0-9+._:-]*(@[A-Za-z0-9._-]+)?((=|>=|<=|>|<|~|=~|><)[A-Za-z0-9+._~-]+)?$`)
	sshKeyRe = regexp.MustCompile(`^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$`)
)

// reservedUsers may not be created by a spec: they belong to the OS.
var reservedUsers = []string{"root", "daemon", "bin", "sys", "nobody", "sshd", "systemd-network", "systemd-resolve", "systemd-timesync", "messagebus"}

// cmdlineOwned are kernel arguments the build sets itself.
var cmdlineOwned = []string{"root", "roothash", "usrhash", "systemd.verity", "hardvm.verity", "init", "rw", "ro"}

// Validate checks the spec against vm's tables and rules and reports every
// problem at once, joined with errors.Join; each is a [*FieldError] naming
// the field and the values allowed. A spec that validates can be built.
func (s *Spec) Validate() error {
	var errs []error
	add := func(field string, sentinel error, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: sentinel})
	}

	var variant *Variant
	switch v, err := LookupVariant(s.Variant); {
	case s.Variant == "":
		add("variant", ErrInvalidSpec, "required (one of %s)", strings.Join(VariantNames(), ", "))
	case err != nil:
		add("variant", ErrUnknown, "unknown variant %q (one of %s)%s", s.Variant, strings.Join(VariantNames(), ", "), suggest(s.Variant, VariantNames()))
	default:
		variant = &v
	}

	var platform *Platform
	switch p, err := LookupPlatform(s.Platform); {
	case s.Platform == "":
		add("platform", ErrInvalidSpec, "required (one of %s)", joinNames(Clouds()))
	case err != nil:
		add("platform", ErrUnknown, "unknown platform %q (one of %s)", s.Platform, joinNames(Clouds()))
	default:
		platform = &p
	}
	if variant != nil && platform != nil && !variant.OffersOn(platform.Cloud) {
		add("platform", ErrUnsupported, "variant %s is not offered on %s (it is on %s)", variant.Name, platform.Cloud, joinNames(variant.Platforms))
	}

	switch {
	case s.Arch == "":
		add("arch", ErrInvalidSpec, "required (one of %s)", joinNames(Arches()))
	case !s.Arch.Valid():
		add("arch", ErrUnknown, "unknown arch %q (one of %s)", s.Arch, joinNames(Arches()))
	case platform != nil && !slices.Contains(platform.Arches, s.Arch):
		add("arch", ErrUnsupported, "%s images are not built for %s (one of %s)", platform.Cloud, s.Arch, joinNames(platform.Arches))
	}

	if s.Kernel != "" && !s.Kernel.Valid() {
		add("kernel", ErrUnknown, "unknown kernel track %q (one of %s)", s.Kernel, joinNames(KernelTracks()))
	}

	errs = append(errs, s.validateRepositories()...)

	if len(s.Packages) > maxPackages {
		add("packages", ErrInvalidSpec, "%d packages, at most %d", len(s.Packages), maxPackages)
	}
	for i, p := range s.Packages {
		if !worldRe.MatchString(p) {
			add(fmt.Sprintf("packages[%d]", i), ErrInvalidSpec, "%q is not a world entry (name, name=1.2-r0, name>=1.2, name@tag, !name)", p)
		}
	}

	seenFormat := map[DiskFormat]bool{}
	for i, f := range s.Formats {
		field := fmt.Sprintf("formats[%d]", i)
		switch {
		case !f.Valid():
			add(field, ErrUnknown, "unknown format %q (one of %s)", f, joinNames(DiskFormats()))
		case platform != nil && !platform.Accepts(f):
			add(field, ErrUnsupported, "%s does not accept %s disks (it accepts %s)", platform.Cloud, f, joinNames(platform.Formats))
		case seenFormat[f]:
			add(field, ErrInvalidSpec, "format %s listed twice", f)
		}
		seenFormat[f] = true
	}

	switch {
	case s.SourceDateEpoch <= 0:
		add("source_date_epoch", ErrInvalidSpec, "required: the build's clock in Unix seconds, e.g. the commit time (git log -1 --format=%%ct)")
	case s.SourceDateEpoch > MaxSourceDateEpoch:
		add("source_date_epoch", ErrInvalidSpec, "%d is after 9999-12-31T23:59:59Z (%d): versions and signed timestamps have four-digit years", s.SourceDateEpoch, int64(MaxSourceDateEpoch))
	}
	if s.Build < 0 {
		add("build", ErrInvalidSpec, "build number %d is negative", s.Build)
	}

	for i, arg := range s.Cmdline {
		field := fmt.Sprintf("cmdline[%d]", i)
		key, val, _ := strings.Cut(arg, "=")
		switch {
		case arg == "" || strings.ContainsAny(arg, " \t\r\n\"'\x00"):
			add(field, ErrInvalidSpec, "%q: one argument per entry, no spaces or quotes", arg)
		case key == "fips":
			add(field, ErrUnsupported, "%q: FIPS in hardvm is kernel-independent (a validated user-space module); set fips: true instead of a kernel argument", arg)
		case slices.Contains(cmdlineOwned, key):
			add(field, ErrInvalidSpec, "%q: %s is set by the build from the verity root hash", arg, key)
		default:
			_ = val
		}
	}

	for i, d := range s.Drivers {
		if !driverRe.MatchString(d) {
			add(fmt.Sprintf("drivers[%d]", i), ErrInvalidSpec, "%q is not a kernel module name (e.g. vmw_pvscsi)", d)
		}
	}

	if s.Size != 0 && (int64(s.Size) < MinDiskSize || int64(s.Size) > MaxDiskSize) {
		add("size", ErrInvalidSpec, "%s is outside %s..%s", s.Size, ByteSize(MinDiskSize), ByteSize(MaxDiskSize))
	}

	errs = append(errs, s.validateUsers()...)

	if sb := s.SecureBoot; sb != nil {
		if sb.DBCert == "" {
			add("secure_boot.db_cert", ErrInvalidSpec, "required with secure_boot: the PEM certificate enrolled in db")
		}
		if sb.DBKey == "" {
			add("secure_boot.db_key", ErrInvalidSpec, "required with secure_boot: the PEM private key of db_cert")
		}
		if platform != nil && !platform.SecureBoot {
			add("secure_boot", ErrUnsupported, "%s cannot enforce Secure Boot with custom keys", platform.Cloud)
		}
	}
	if s.Hostname != "" && !hostnameRe.MatchString(s.Hostname) {
		add("hostname", ErrInvalidSpec, "%q is not a host name (lower-case letters, digits and -, at most 63)", s.Hostname)
	}
	if len(s.Labels) > maxLabels {
		add("labels", ErrInvalidSpec, "%d labels, at most %d", len(s.Labels), maxLabels)
	}
	for _, k := range sortedKeys(s.Labels) {
		if k == "" || len(k) > 63 || len(s.Labels[k]) > 255 {
			add("labels."+k, ErrInvalidSpec, "label keys are 1..63 bytes, values at most 255")
		}
	}
	return errors.Join(errs...)
}

func (s *Spec) validateRepositories() []error {
	var errs []error
	add := func(field string, sentinel error, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: sentinel})
	}
	if len(s.Repositories) == 0 {
		add("repositories", ErrInvalidSpec, "at least one repository is required")
	}
	firstOf := map[RepositoryFamily]int{}
	for i, r := range s.Repositories {
		field := fmt.Sprintf("repositories[%d]", i)
		if r.URL == "" {
			add(field+".url", ErrInvalidSpec, "required: a directory, file:// path or http(s):// URL")
		} else if u, err := url.Parse(r.URL); err != nil || !(u.Scheme == "" || u.Scheme == "file" || u.Scheme == "http" || u.Scheme == "https") {
			add(field+".url", ErrInvalidSpec, "%q: want a directory, file:// path or http(s):// URL", r.URL)
		}
		if len(r.Keys) == 0 {
			add(field+".keys", ErrInvalidSpec, "at least one signing key is required: unsigned repositories are never trusted")
		}
		for j, k := range r.Keys {
			if strings.TrimSpace(k) == "" {
				add(fmt.Sprintf("%s.keys[%d]", field, j), ErrInvalidSpec, "empty key reference")
			}
		}
		switch {
		case r.Family == "":
			add(field+".family", ErrInvalidSpec, "required (one of %s)", joinNames(RepositoryFamilies()))
		case !r.Family.Valid():
			add(field+".family", ErrUnknown, "unknown repository family %q (one of %s)", r.Family, joinNames(RepositoryFamilies()))
		default:
			if _, ok := firstOf[r.Family]; !ok {
				firstOf[r.Family] = i
			}
		}
	}
	if w, ok := firstOf[Wolfi]; ok {
		if c, ok := firstOf[Chainguard]; ok {
			add(fmt.Sprintf("repositories[%d].family", max(w, c)), ErrMixedRepositories,
				"repositories[%d] is wolfi and repositories[%d] is chainguard: Wolfi and Chainguard OS packages never mix in one image", w, c)
		}
	}
	return errs
}

func (s *Spec) validateUsers() []error {
	var errs []error
	add := func(field string, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrInvalidSpec})
	}
	if len(s.Users) > maxUsers {
		add("users", "%d users, at most %d", len(s.Users), maxUsers)
	}
	names, uids := map[string]int{}, map[int]int{}
	for i, u := range s.Users {
		field := "users[" + strconv.Itoa(i) + "]"
		switch {
		case !userRe.MatchString(u.Name):
			add(field+".name", "%q is not a user name (lower-case letters, digits, _ and -, at most 32)", u.Name)
		case slices.Contains(reservedUsers, u.Name):
			add(field+".name", "%q is a system account of the image", u.Name)
		}
		if j, ok := names[u.Name]; ok {
			add(field+".name", "%q already defined in users[%d]", u.Name, j)
		}
		names[u.Name] = i
		if u.UID != 0 {
			if u.UID < 1000 || u.UID > 60000 {
				add(field+".uid", "%d outside 1000..60000 (below 1000 is the system's)", u.UID)
			}
			if j, ok := uids[u.UID]; ok {
				add(field+".uid", "%d already used by users[%d]", u.UID, j)
			}
			uids[u.UID] = i
		}
		for j, k := range u.SSHKeys {
			if !sshKeyRe.MatchString(strings.TrimSpace(k)) {
				add(fmt.Sprintf("%s.ssh_keys[%d]", field, j), "not an OpenSSH public key line (type base64 [comment])")
			}
		}
		for j, g := range u.Groups {
			if !userRe.MatchString(g) {
				add(fmt.Sprintf("%s.groups[%d]", field, j), "%q is not a group name", g)
			}
		}
	}
	return errs
}

func joinNames[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}
