package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm/internal/atomicfile"
)

// Where the agent writes, on the running system (under Target.Root).
const (
	// AuthorizedKeysDir holds one directory per login user with the
	// authorized_keys the metadata gave: sshd_config's
	// "AuthorizedKeysFile /var/lib/hardvm/ssh/%u/authorized_keys". The
	// directories and files are root's (0755/0644), which sshd's
	// StrictModes accepts and which the user cannot change: only metadata
	// decides who logs in.
	AuthorizedKeysDir = "/var/lib/hardvm/ssh"
	// AuthorizedKeysFile is the value for sshd_config's AuthorizedKeysFile.
	AuthorizedKeysFile = AuthorizedKeysDir + "/%u/authorized_keys"
	// RunDir holds what this boot's metadata said, for the variant's
	// services (order them After=hardvm-firstboot.service).
	RunDir = "/run/hardvm/firstboot"
	// UserDataFile is the user data, byte for byte as the platform gave it
	// (mode 0600, root's); absent when the platform gave none.
	UserDataFile = RunDir + "/user-data"
	// InstanceFile is a JSON summary: {"source", "instance_id",
	// "hostname", "keys", "user_data"}.
	InstanceFile = RunDir + "/instance.json"
)

// Instance is the summary written to InstanceFile.
type Instance struct {
	Source     string `json:"source"`
	InstanceID string `json:"instance_id,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	Keys       int    `json:"keys"`
	UserData   bool   `json:"user_data"`
}

// Target is the machine metadata is applied to.
type Target struct {
	Root string // "/" on the machine; a temporary directory in tests
	User string // login user whose keys the metadata sets ("" for none)
	// SetHostname sets the kernel host name (unix.Sethostname on the
	// machine). Nil leaves the host name alone.
	SetHostname func(name string) error
}

// ValidUser reports whether name is a user name the agent writes keys
// for: 1-32 characters of a-z, 0-9, '_' and '-', not starting with '-'
// or a digit.
func ValidUser(name string) bool {
	if len(name) == 0 || len(name) > 32 || name[0] == '-' || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Apply writes md to t: the host name, the login user's authorized_keys
// (replaced by exactly md.Keys; removed when md has none), the user data
// and the instance summary. Errors wrap ErrApply.
func Apply(t Target, md *Metadata, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if t.Root == "" {
		return fmt.Errorf("%w: no root", ErrApply)
	}
	if md.Hostname != "" && t.SetHostname != nil {
		if err := t.SetHostname(md.Hostname); err != nil {
			return fmt.Errorf("%w: sethostname: %w", ErrApply, err)
		}
		log.Info("hostname set", "hostname", md.Hostname)
	}
	switch {
	case t.User == "":
		if len(md.Keys) > 0 {
			log.Warn("the image has no login user: SSH keys from metadata are not installed", "keys", len(md.Keys))
		}
	case !ValidUser(t.User):
		return fmt.Errorf("%w: login user %q", ErrApply, t.User)
	default:
		if err := writeKeys(t.Root, t.User, md.Keys); err != nil {
			return err
		}
		fps := make([]string, len(md.Keys))
		for i, k := range md.Keys {
			fps[i] = Fingerprint(k)
		}
		log.Info("authorized keys set", "user", t.User, "keys", len(md.Keys), "fingerprints", strings.Join(fps, " "))
	}
	run := filepath.Join(t.Root, RunDir)
	if err := os.MkdirAll(run, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrApply, err)
	}
	ud := filepath.Join(t.Root, UserDataFile)
	if md.UserData != nil {
		if err := atomicfile.WriteBytes(ud, 0o600, md.UserData); err != nil {
			return fmt.Errorf("%w: user data: %w", ErrApply, err)
		}
		log.Info("user data written", "path", UserDataFile, "bytes", len(md.UserData))
	} else if err := os.Remove(ud); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrApply, err)
	}
	sum, err := json.MarshalIndent(Instance{Source: md.Source, InstanceID: md.InstanceID, Hostname: md.Hostname, Keys: len(md.Keys), UserData: md.UserData != nil}, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrApply, err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(t.Root, InstanceFile), 0o644, append(sum, '\n')); err != nil {
		return fmt.Errorf("%w: %w", ErrApply, err)
	}
	return nil
}

// writeKeys replaces the user's authorized_keys with keys, atomically.
func writeKeys(root, user string, keys []string) error {
	dir := filepath.Join(root, AuthorizedKeysDir)
	userDir := filepath.Join(dir, user)
	for _, d := range []string{dir, userDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("%w: %w", ErrApply, err)
		}
		if err := ownDir(d); err != nil {
			return err
		}
	}
	file := filepath.Join(userDir, "authorized_keys")
	if len(keys) == 0 {
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %w", ErrApply, err)
		}
		return atomicfile.SyncDir(userDir)
	}
	var b strings.Builder
	b.WriteString("# Written by hardvm-firstboot from this machine's metadata at every boot; edits are lost.\n")
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('\n')
	}
	if err := atomicfile.WriteBytes(file, 0o644, []byte(b.String())); err != nil {
		return fmt.Errorf("%w: %w", ErrApply, err)
	}
	return nil
}

// ownDir makes d a root-owned 0755 directory and refuses anything else in
// its place (a symlink planted there would redirect the keys).
func ownDir(d string) error {
	fi, err := os.Lstat(d)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrApply, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory (%s)", ErrApply, d, fi.Mode().Type())
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(d, 0, 0); err != nil {
			return fmt.Errorf("%w: %w", ErrApply, err)
		}
	}
	if err := os.Chmod(d, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrApply, err)
	}
	return nil
}

// Config is one run of the agent.
type Config struct {
	Sources []Source // tried in order; the first with metadata wins
	Target  Target
	Log     *slog.Logger // default: discard
}

// Run fetches metadata from the first source that has it, applies it and
// reports ready where the platform wants that. With no source holding
// metadata it changes nothing and returns an error wrapping
// ErrNoMetadata (the machine boots; keys from an earlier boot stay).
// A source that is present but broken stops the run: falling through to
// another source would let a second channel decide who logs in.
func Run(ctx context.Context, cfg Config) (*Metadata, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, s := range cfg.Sources {
		md, err := s.Fetch(ctx)
		if errors.Is(err, ErrNoMetadata) {
			log.Info("no metadata from source", "source", s.Name(), "reason", err.Error())
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		md.Source = s.Name()
		log.Info("metadata found", "source", md.Source, "instance_id", md.InstanceID, "hostname", md.Hostname, "keys", len(md.Keys), "user_data_bytes", len(md.UserData))
		if err := Apply(cfg.Target, md, log); err != nil {
			return md, err
		}
		if r, ok := s.(Reporter); ok {
			if err := r.Ready(ctx); err != nil {
				return md, fmt.Errorf("%s: ready report: %w", s.Name(), err)
			}
			log.Info("reported ready", "source", md.Source)
		}
		return md, nil
	}
	return nil, fmt.Errorf("%w: no source had metadata (tried %d)", ErrNoMetadata, len(cfg.Sources))
}
