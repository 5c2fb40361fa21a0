package firstboot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/fat"
	"github.com/hardvm/hardvm/image/firstboot/internal/agent"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"go.yaml.in/yaml/v3"
)

// SeedSize is the size of the volume WriteNoCloudSeed writes: the
// smallest FAT32 volume image/fat makes, sparse (a few KiB of it hold
// data).
const SeedSize = 34 << 20

// Seed is what a NoCloud seed tells a machine.
type Seed struct {
	// InstanceID identifies the instance (cloud-init reruns its
	// per-instance steps when it changes). Default: derived from the rest
	// of the seed.
	InstanceID string
	// Hostname is meta-data's local-hostname: one or more valid labels;
	// the agent sets the first.
	Hostname string
	// AuthorizedKeys are OpenSSH public keys ("type base64 [comment]")
	// for the login user.
	AuthorizedKeys []string
	// UserData is written as user-data byte for byte. Default: a
	// #cloud-config with the keys as ssh_authorized_keys.
	UserData []byte
	// SourceDateEpoch stamps the volume's files (Unix seconds), so one seed
	// always gives the same bytes.
	SourceDateEpoch int64
}

// documents returns meta-data and user-data, validating the seed.
func (s Seed) documents() (meta, userData []byte, err error) {
	keys := make([]string, 0, len(s.AuthorizedKeys))
	for _, k := range s.AuthorizedKeys {
		line, err := agent.ParseKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: authorized key: %w", ErrInvalid, err)
		}
		keys = append(keys, line)
	}
	if s.Hostname != "" {
		for _, l := range strings.Split(s.Hostname, ".") {
			if h, err := agent.ShortHostname(l); err != nil || h != l {
				return nil, nil, fmt.Errorf("%w: host name %q", ErrInvalid, s.Hostname)
			}
		}
	}
	if len(s.UserData) > agent.MaxUserData {
		return nil, nil, fmt.Errorf("%w: user data of %d bytes, at most %d", ErrInvalid, len(s.UserData), agent.MaxUserData)
	}
	userData = s.UserData
	if userData == nil {
		doc, err := yaml.Marshal(struct {
			Keys []string `yaml:"ssh_authorized_keys,omitempty"`
		}{keys})
		if err != nil {
			return nil, nil, err
		}
		userData = append([]byte("#cloud-config\n"), doc...)
	}
	id := s.InstanceID
	if id == "" {
		h := sha256.New()
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", s.Hostname, strings.Join(keys, "\n"), len(userData))
		h.Write(userData)
		id = "iid-hardvm-" + hex.EncodeToString(h.Sum(nil))[:16]
	}
	if strings.ContainsAny(id, "\r\n") || len(id) > 256 {
		return nil, nil, fmt.Errorf("%w: instance id %q", ErrInvalid, id)
	}
	meta, err = yaml.Marshal(struct {
		InstanceID string   `yaml:"instance-id"`
		Hostname   string   `yaml:"local-hostname,omitempty"`
		Keys       []string `yaml:"public-keys,omitempty"`
	}{id, s.Hostname, keys})
	if err != nil {
		return nil, nil, err
	}
	return meta, userData, nil
}

// WriteNoCloudSeed writes a NoCloud seed volume of SeedSize bytes to dst
// at offset 0: a FAT32 file system labelled CIDATA holding meta-data
// (instance-id, local-hostname, public-keys) and user-data, which
// cloud-init and hardvm's agent both read. Attach it to a QEMU machine as
// a second disk (if=virtio,format=raw). dst must read as zeros where
// nothing is written (a new file). Invalid seeds wrap ErrInvalid.
func WriteNoCloudSeed(ctx context.Context, dst io.WriterAt, s Seed) error {
	meta, userData, err := s.documents()
	if err != nil {
		return err
	}
	tree := fstest.MapFS{
		"meta-data": {Data: meta, Mode: 0o644},
		"user-data": {Data: userData, Mode: 0o644},
	}
	_, err = fat.Write(ctx, dst, SeedSize, tree, fat.WithLabel("CIDATA"), fat.WithEpoch(s.SourceDateEpoch))
	return err
}

// WriteNoCloudSeedFile writes the seed to a new file at path, atomically.
func WriteNoCloudSeedFile(ctx context.Context, path string, s Seed) error {
	if _, _, err := s.documents(); err != nil {
		return err
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := WriteNoCloudSeed(ctx, f, s); err != nil {
		return err
	}
	return f.Commit()
}

// ReadNoCloudSeed reads a NoCloud seed volume (vfat or iso9660, labelled
// CIDATA) as the agent does at boot, keys for user (the login user) from
// meta-data and user-data. It returns what the agent would apply.
func ReadNoCloudSeed(r io.ReaderAt, size int64, user string) (Seed, error) {
	md, err := agent.ReadNoCloud(r, size, user)
	if err != nil {
		return Seed{}, err
	}
	return Seed{InstanceID: md.InstanceID, Hostname: md.Hostname, AuthorizedKeys: md.Keys, UserData: md.UserData}, nil
}

// ReadNoCloudSeedFile reads the seed volume in the file at path.
func ReadNoCloudSeedFile(path, user string) (Seed, error) {
	f, err := os.Open(path)
	if err != nil {
		return Seed{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Seed{}, err
	}
	return ReadNoCloudSeed(f, fi.Size(), user)
}
