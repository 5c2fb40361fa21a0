package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Devices lists the block devices to look for labelled volumes on.
type Devices func() ([]string, error)

// SysBlockDevices lists /dev/NAME for every block device in
// /sys/class/block (disks and partitions, CD-ROMs included) that has a
// size, except loop, ram and zram devices.
func SysBlockDevices() ([]string, error) {
	ents, err := os.ReadDir("/sys/class/block")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		b, err := os.ReadFile("/sys/class/block/" + n + "/size")
		if err != nil {
			continue
		}
		if s, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || s == 0 {
			continue
		}
		out = append(out, "/dev/"+n)
	}
	return out, nil
}

// findVolume returns the one volume labelled label (case-insensitively)
// on the devices, waiting up to wait for it to appear. Two volumes with
// the label are refused: which one speaks for the machine would be a
// guess.
func findVolume(ctx context.Context, devs Devices, label string, wait time.Duration, log *slog.Logger) (volume, func(), error) {
	deadline := time.Now().Add(wait)
	for {
		paths, err := devs()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: listing block devices: %v", ErrNoMetadata, err)
		}
		var found []string
		var vol volume
		var closeFn func()
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				log.Debug("cannot open block device", "device", p, "err", err)
				continue
			}
			size, err := f.Seek(0, 2)
			if err != nil || size <= 0 {
				f.Close()
				continue
			}
			v, err := openVolume(f, size)
			if err != nil || !strings.EqualFold(v.label(), label) {
				f.Close()
				continue
			}
			found = append(found, p)
			if vol == nil {
				vol, closeFn = v, func() { f.Close() }
			} else {
				f.Close()
			}
		}
		switch {
		case len(found) == 1:
			log.Info("metadata volume found", "label", label, "device", found[0])
			return vol, closeFn, nil
		case len(found) > 1:
			closeFn()
			return nil, nil, fmt.Errorf("%w: %d volumes labelled %s (%s)", ErrMalformed, len(found), label, strings.Join(found, ", "))
		}
		if !time.Now().Before(deadline) {
			return nil, nil, fmt.Errorf("%w: no volume labelled %s", ErrNoMetadata, label)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: %v", ErrNoMetadata, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// optional returns the file, nil if it is absent.
func optional(v volume, path string, max int64) ([]byte, error) {
	b, err := v.readFile(path, max)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// NoCloud reads cloud-init's NoCloud seed: a volume labelled CIDATA.
type NoCloud struct {
	Devices Devices       // default SysBlockDevices
	Wait    time.Duration // how long to wait for the volume to appear
	User    string        // the login user, for users[].ssh_authorized_keys
	Log     *slog.Logger
}

// Name implements Source.
func (NoCloud) Name() string { return "nocloud" }

// Fetch implements Source.
func (n NoCloud) Fetch(ctx context.Context) (*Metadata, error) {
	log := orDiscard(n.Log)
	vol, closeFn, err := findVolume(ctx, orSys(n.Devices), "cidata", n.Wait, log)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	meta, err := vol.readFile("meta-data", MaxDocument)
	if err != nil {
		return nil, fmt.Errorf("%w: CIDATA volume: %w", ErrMalformed, err)
	}
	ud, err := optional(vol, "user-data", MaxUserData)
	if err != nil {
		return nil, fmt.Errorf("CIDATA volume: %w", err)
	}
	return parseNoCloud(meta, ud, n.User)
}

// parseNoCloud decodes meta-data (YAML or JSON) and user-data.
func parseNoCloud(meta, userData []byte, user string) (*Metadata, error) {
	md := &Metadata{}
	var m map[string]any
	if err := yaml.Unmarshal(meta, &m); err != nil {
		return nil, fmt.Errorf("%w: meta-data: %v", ErrMalformed, err)
	}
	if err := md.setInstanceID(str(m["instance-id"])); err != nil {
		return nil, err
	}
	host := str(m["local-hostname"])
	if host == "" {
		host = str(m["hostname"])
	}
	if err := md.setHostname(host); err != nil {
		return nil, err
	}
	keys, err := keyList(m["public-keys"])
	if err != nil {
		return nil, err
	}
	if err := md.addKeys(keys...); err != nil {
		return nil, err
	}
	if err := md.cloudConfig(userData, user); err != nil {
		return nil, err
	}
	md.UserData = userData
	return md, nil
}

// cloudConfig takes keys and a host name from #cloud-config user data:
// top-level ssh_authorized_keys (the default user's, which is the login
// user), and users[] entries named like the login user. Other user data
// (scripts, MIME multipart) is handed to the variant unread.
func (md *Metadata) cloudConfig(userData []byte, user string) error {
	first, _, _ := bytes.Cut(bytes.TrimPrefix(userData, []byte("\xef\xbb\xbf")), []byte("\n"))
	if string(bytes.TrimSpace(first)) != "#cloud-config" {
		return nil
	}
	var cc struct {
		Keys     []string    `yaml:"ssh_authorized_keys"`
		Hostname string      `yaml:"hostname"`
		Users    []yaml.Node `yaml:"users"`
	}
	if err := yaml.Unmarshal(userData, &cc); err != nil {
		return fmt.Errorf("%w: user-data: #cloud-config: %v", ErrMalformed, err)
	}
	if err := md.addKeys(cc.Keys...); err != nil {
		return err
	}
	if md.Hostname == "" {
		if err := md.setHostname(cc.Hostname); err != nil {
			return err
		}
	}
	for _, n := range cc.Users {
		if n.Kind != yaml.MappingNode {
			continue // "default" or a name without keys
		}
		var u struct {
			Name string   `yaml:"name"`
			Keys []string `yaml:"ssh_authorized_keys"`
		}
		if err := n.Decode(&u); err != nil {
			return fmt.Errorf("%w: user-data: users: %v", ErrMalformed, err)
		}
		if user != "" && u.Name == user {
			if err := md.addKeys(u.Keys...); err != nil {
				return err
			}
		}
	}
	return nil
}

// keyList flattens cloud-init's public-keys forms: a string of lines, a
// list of strings, or a map of names to either.
func keyList(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Split(t, "\n"), nil
	case []any:
		var out []string
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: public-keys entry is a %T", ErrMalformed, e)
			}
			out = append(out, strings.Split(s, "\n")...)
		}
		return out, nil
	case map[string]any:
		var out []string
		for _, name := range slices.Sorted(maps.Keys(t)) {
			k, err := keyList(t[name])
			if err != nil {
				return nil, err
			}
			out = append(out, k...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: public-keys is a %T", ErrMalformed, v)
}

func str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case int, int64, uint64, float64:
		return fmt.Sprint(t)
	}
	return ""
}

// ConfigDrive reads the OpenStack config drive (Nutanix AHV offers it): a
// volume labelled config-2 with openstack/latest/meta_data.json.
type ConfigDrive struct {
	Devices Devices
	Wait    time.Duration
	Log     *slog.Logger
}

// Name implements Source.
func (ConfigDrive) Name() string { return "configdrive" }

// Fetch implements Source.
func (c ConfigDrive) Fetch(ctx context.Context) (*Metadata, error) {
	log := orDiscard(c.Log)
	vol, closeFn, err := findVolume(ctx, orSys(c.Devices), "config-2", c.Wait, log)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	meta, err := vol.readFile("openstack/latest/meta_data.json", MaxDocument)
	if err != nil {
		return nil, fmt.Errorf("%w: config-2 volume: %w", ErrMalformed, err)
	}
	ud, err := optional(vol, "openstack/latest/user_data", MaxUserData)
	if err != nil {
		return nil, fmt.Errorf("config-2 volume: %w", err)
	}
	return parseConfigDrive(meta, ud)
}

func parseConfigDrive(meta, userData []byte) (*Metadata, error) {
	var m struct {
		UUID       string            `json:"uuid"`
		Hostname   string            `json:"hostname"`
		Name       string            `json:"name"`
		PublicKeys map[string]string `json:"public_keys"`
		Keys       []struct {
			Type string `json:"type"`
			Data string `json:"data"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, fmt.Errorf("%w: meta_data.json: %v", ErrMalformed, err)
	}
	md := &Metadata{}
	if err := md.setInstanceID(m.UUID); err != nil {
		return nil, err
	}
	host := m.Hostname
	if host == "" {
		host = m.Name
	}
	if err := md.setHostname(host); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(m.PublicKeys)) {
		if err := md.addKeys(strings.Split(m.PublicKeys[name], "\n")...); err != nil {
			return nil, err
		}
	}
	for _, k := range m.Keys {
		if k.Type == "ssh" {
			if err := md.addKeys(k.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := md.cloudConfig(userData, ""); err != nil {
		return nil, err
	}
	md.UserData = userData
	return md, nil
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

func orSys(d Devices) Devices {
	if d == nil {
		return SysBlockDevices
	}
	return d
}

// FileDevices lists regular files as devices (tests, and disk images
// inspected on a host).
func FileDevices(paths ...string) Devices {
	return func() ([]string, error) {
		var out []string
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				out = append(out, filepath.Clean(p))
			}
		}
		return out, nil
	}
}

// ReadNoCloud reads a NoCloud seed volume (vfat or iso9660, labelled
// CIDATA) from r, as the nocloud source does on a device.
func ReadNoCloud(r io.ReaderAt, size int64, user string) (*Metadata, error) {
	v, err := openVolume(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !strings.EqualFold(v.label(), "cidata") {
		return nil, fmt.Errorf("%w: volume label %q, want CIDATA", ErrMalformed, clip(v.label()))
	}
	meta, err := v.readFile("meta-data", MaxDocument)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	ud, err := optional(v, "user-data", MaxUserData)
	if err != nil {
		return nil, err
	}
	md, err := parseNoCloud(meta, ud, user)
	if err != nil {
		return nil, err
	}
	md.Source = "nocloud"
	return md, nil
}
