package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FwCfgPrefix is where QEMU's fw_cfg puts guestinfo keys for the agent:
// start QEMU with
//
//	-fw_cfg name=opt/org.hardvm/guestinfo.metadata,string=BASE64
//	-fw_cfg name=opt/org.hardvm/guestinfo.metadata.encoding,string=base64
//
// and the guest (module qemu_fw_cfg) shows them under
// /sys/firmware/qemu_fw_cfg/by_name/opt/org.hardvm/KEY/raw.
const FwCfgPrefix = "opt/org.hardvm/"

// GuestInfo reads VMware guestinfo variables: guestinfo.metadata (the
// NoCloud meta-data document, JSON or YAML) and guestinfo.userdata, each
// with an optional guestinfo.*.encoding of base64 or gzip+base64.
//
// Two transports, tried in order: QEMU's fw_cfg (FwCfgDir), which is how
// the tests and any KVM host provide them, and on VMware the
// vmware-rpctool program of open-vm-tools ("info-get guestinfo.KEY")
// when the image carries it (RPCTool). The agent does not implement the
// VMware backdoor (I/O port 0x5658) itself: QEMU does not emulate its RPC
// channel, so such code could not be tested here.
type GuestInfo struct {
	FwCfgDir string // default /sys/firmware/qemu_fw_cfg/by_name
	RPCTool  string // default /usr/bin/vmware-rpctool
	User     string // login user, for users[] in #cloud-config user data
}

// Name implements Source.
func (GuestInfo) Name() string { return "guestinfo" }

// Fetch implements Source.
func (g GuestInfo) Fetch(ctx context.Context) (*Metadata, error) {
	get := g.transport(ctx)
	if get == nil {
		return nil, fmt.Errorf("%w: no fw_cfg guestinfo and no vmware-rpctool", ErrNoMetadata)
	}
	meta, err := g.value(get, "guestinfo.metadata", MaxDocument)
	if err != nil {
		return nil, err
	}
	if meta == nil {
		return nil, fmt.Errorf("%w: guestinfo.metadata is not set", ErrNoMetadata)
	}
	ud, err := g.value(get, "guestinfo.userdata", MaxUserData)
	if err != nil {
		return nil, err
	}
	return parseNoCloud(meta, ud, g.User)
}

// getter returns a guestinfo variable, nil if unset.
type getter func(key string, max int64) ([]byte, error)

func (g GuestInfo) transport(ctx context.Context) getter {
	dir := g.FwCfgDir
	if dir == "" {
		dir = "/sys/firmware/qemu_fw_cfg/by_name"
	}
	if _, err := os.Stat(filepath.Join(dir, FwCfgPrefix, "guestinfo.metadata", "raw")); err == nil {
		return func(key string, max int64) ([]byte, error) {
			f, err := os.Open(filepath.Join(dir, FwCfgPrefix, key, "raw"))
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%w: fw_cfg %s: %v", ErrMalformed, key, err)
			}
			defer f.Close()
			return readBounded(f, max, key)
		}
	}
	tool := g.RPCTool
	if tool == "" {
		tool = "/usr/bin/vmware-rpctool"
	}
	if _, err := os.Stat(tool); err != nil {
		return nil
	}
	return func(key string, max int64) ([]byte, error) {
		cmd := exec.CommandContext(ctx, tool, "info-get "+key)
		var out bytes.Buffer
		cmd.Stdout = &limitedBuffer{b: &out, max: max}
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return nil, nil // "No value found"
			}
			return nil, fmt.Errorf("%w: vmware-rpctool: %v", ErrNoMetadata, err)
		}
		if int64(out.Len()) > max {
			return nil, fmt.Errorf("%w: %s over %d bytes", ErrTooLarge, key, max)
		}
		return bytes.TrimRight(out.Bytes(), "\n"), nil
	}
}

// value reads key and decodes it as key.encoding says.
func (g GuestInfo) value(get getter, key string, max int64) ([]byte, error) {
	raw, err := get(key, 2*max)
	if err != nil || raw == nil {
		return nil, err
	}
	enc, err := get(key+".encoding", 64)
	if err != nil {
		return nil, err
	}
	switch e := strings.ToLower(strings.TrimSpace(string(enc))); e {
	case "":
		if int64(len(raw)) > max {
			return nil, fmt.Errorf("%w: %s over %d bytes", ErrTooLarge, key, max)
		}
		return raw, nil
	case "base64", "b64", "gzip+base64", "gz+b64":
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: base64: %v", ErrMalformed, key, err)
		}
		if strings.HasPrefix(e, "g") {
			zr, err := gzip.NewReader(bytes.NewReader(dec))
			if err != nil {
				return nil, fmt.Errorf("%w: %s: gzip: %v", ErrMalformed, key, err)
			}
			return readBounded(zr, max, key)
		}
		if int64(len(dec)) > max {
			return nil, fmt.Errorf("%w: %s over %d bytes", ErrTooLarge, key, max)
		}
		return dec, nil
	default:
		return nil, fmt.Errorf("%w: %s.encoding %q", ErrMalformed, key, clip(e))
	}
}

func readBounded(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s over %d bytes", ErrTooLarge, what, max)
	}
	return b, nil
}

// limitedBuffer keeps at most max+1 bytes of a child's output.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int64
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max + 1 - int64(l.b.Len()); room > 0 {
		l.b.Write(p[:min(int64(len(p)), room)])
	}
	return len(p), nil
}
