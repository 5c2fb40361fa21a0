package agent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Limits on what a source may hand over.
const (
	MaxUserData = 1 << 20  // user data, as Azure and EC2 allow (16 KiB on EC2, 64 KiB custom data on Azure)
	MaxDocument = 64 << 10 // one metadata document (meta-data, JSON, an ssh-keys attribute)
	MaxKeys     = 100      // authorized keys for the login user
	maxKeyLine  = 16 << 10 // one authorized_keys line (an RSA-16384 key is ~2.8 KiB)
)

// Metadata is what a source found for this machine.
type Metadata struct {
	Source     string   // the source's name, e.g. "nocloud"
	InstanceID string   // the platform's instance identifier, if any
	Hostname   string   // a valid single-label host name, or ""
	Keys       []string // validated authorized_keys lines for the login user
	UserData   []byte   // opaque user data for the variant, or nil
}

// Source is one place a machine's metadata comes from.
type Source interface {
	// Name is the source's name (vm.MetadataSource).
	Name() string
	// Fetch returns the metadata, or an error wrapping ErrNoMetadata when
	// the source is absent.
	Fetch(ctx context.Context) (*Metadata, error)
}

// Reporter is a source that tells its platform the machine is
// provisioned (Azure's ready report), after Apply.
type Reporter interface {
	Ready(ctx context.Context) error
}

// keyTypes are the OpenSSH public key algorithms accepted.
var keyTypes = []string{
	"ssh-ed25519", "ssh-rsa",
	"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

// ParseKey validates one public key as metadata gives it ("type base64
// [comment]", no options) and returns the authorized_keys line to write:
// the type, the key and a comment cleaned of anything but printable
// ASCII. The base64 blob must decode and name the same type. A line break
// anywhere is refused, so one key can never smuggle in a second line.
func ParseKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxKeyLine {
		return "", fmt.Errorf("%w: a key of %d bytes", ErrTooLarge, len(s))
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", fmt.Errorf("%w: key holds a line break", ErrMalformed)
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return "", fmt.Errorf("%w: key is not \"type base64 [comment]\"", ErrMalformed)
	}
	if !slices.Contains(keyTypes, f[0]) {
		return "", fmt.Errorf("%w: key type %q not accepted (options are not allowed either)", ErrMalformed, clip(f[0]))
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "", fmt.Errorf("%w: %s key: base64: %v", ErrMalformed, f[0], err)
	}
	if len(blob) < 4 {
		return "", fmt.Errorf("%w: %s key blob too short", ErrMalformed, f[0])
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != f[0] {
		return "", fmt.Errorf("%w: key blob does not hold a %s key", ErrMalformed, f[0])
	}
	line := f[0] + " " + f[1]
	if c := cleanComment(strings.Join(f[2:], " ")); c != "" {
		line += " " + c
	}
	return line, nil
}

func cleanComment(c string) string {
	var b strings.Builder
	for _, r := range c {
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(b.String())
	if len(out) > 256 {
		out = out[:256]
	}
	return out
}

// Fingerprint returns OpenSSH's SHA256 fingerprint of an authorized_keys
// line, for logs (a public key's fingerprint is no secret).
func Fingerprint(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return "?"
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "?"
	}
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// addKeys validates keys and appends the new ones to md.Keys.
func (md *Metadata) addKeys(keys ...string) error {
	for _, k := range keys {
		if strings.TrimSpace(k) == "" || strings.HasPrefix(strings.TrimSpace(k), "#") {
			continue
		}
		line, err := ParseKey(k)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(md.Keys, func(have string) bool { return sameKey(have, line) }) {
			continue
		}
		if len(md.Keys) >= MaxKeys {
			return fmt.Errorf("%w: more than %d keys", ErrTooLarge, MaxKeys)
		}
		md.Keys = append(md.Keys, line)
	}
	return nil
}

func sameKey(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	return fa[0] == fb[0] && fa[1] == fb[1]
}

// setHostname keeps the first label of name, lower-cased, if it is a
// valid host name (RFC 1123: 1-63 of a-z, 0-9 and '-', no '-' at either
// end). Cloud hostnames are often FQDNs (ip-10-0-0-1.ec2.internal); the
// kernel hostname is the short name, as on GCE.
func (md *Metadata) setHostname(name string) error {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil
	}
	h, err := ShortHostname(name)
	if err != nil {
		return err
	}
	md.Hostname = h
	return nil
}

// ShortHostname returns the first label of name, lower-cased, or an error
// wrapping ErrMalformed when it is not a valid RFC 1123 label.
func ShortHostname(name string) (string, error) {
	label, _, _ := strings.Cut(strings.TrimSpace(name), ".")
	label = strings.ToLower(label)
	ok := len(label) >= 1 && len(label) <= 63 && label[0] != '-' && label[len(label)-1] != '-'
	for i := 0; ok && i < len(label); i++ {
		c := label[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return "", fmt.Errorf("%w: host name %q", ErrMalformed, clip(name))
	}
	return label, nil
}

// setInstanceID keeps id if it is printable and short.
func (md *Metadata) setInstanceID(id string) error {
	id = strings.TrimSpace(id)
	if len(id) > 256 {
		return fmt.Errorf("%w: instance id of %d bytes", ErrMalformed, len(id))
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: instance id holds control characters", ErrMalformed)
		}
	}
	md.InstanceID = id
	return nil
}

// clip shortens untrusted text quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
