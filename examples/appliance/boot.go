package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/internal/vmtest/guest"
	"github.com/hardvm/hardvm/vm"
)

// BootTimeout bounds one boot, from QEMU's start to the service answering,
// under software emulation on a loaded machine.
const BootTimeout = 6 * time.Minute

// Result is what a boot check saw.
type Result struct {
	Accel   string        // "kvm" or "tcg"
	What    string        // what answered
	Elapsed time.Duration // from QEMU's start to the answer
}

// Start boots disk (qcow2) with the NoCloud seed volume (if any) as a
// second disk, the guest ports forwarded, its own UUID and the console in
// dir, with cpus virtual CPUs.
func Start(disk, seed, dir, uuid string, cpus int, forward ...int) (*vmtest.Machine, error) {
	kvm, _ := guest.Accel()
	var drives []string
	if seed != "" {
		drives = []string{seed}
	}
	return vmtest.Start(vmtest.Config{Disk: disk, Drives: drives, Dir: dir, Forward: forward, UUID: uuid, KVM: kvm, CPUs: cpus})
}

// Seed writes the NoCloud seed a machine reads at boot (as `hardvm run
// --ssh-key` does): its hostname and the login user's keys.
func Seed(ctx context.Context, path, hostname string, keys ...string) error {
	return firstboot.WriteNoCloudSeedFile(ctx, path, firstboot.Seed{Hostname: hostname, AuthorizedKeys: keys, SourceDateEpoch: Epoch})
}

// Running logs in as the login user with key and waits for systemd to
// finish starting: it must say "running" (no unit failed).
func Running(ctx context.Context, m *vmtest.Machine, key *vmtest.Key) (*vmtest.Session, error) {
	s, err := vmtest.Dial(ctx, m.Addr(22), LoginUser, false, ssh.PublicKeys(key.Signer))
	if err != nil {
		return nil, err
	}
	out, err := s.Run(ctx, "systemctl is-system-running --wait")
	if strings.TrimSpace(out) != "running" {
		failed, _ := s.Run(ctx, "systemctl list-units --state=failed --no-legend --plain; journalctl -b -p warning --no-pager | tail -40")
		s.Close()
		return nil, fmt.Errorf("systemctl is-system-running = %q (%v); failed units and warnings:\n%s", strings.TrimSpace(out), err, failed)
	}
	return s, nil
}

// WaitNginx waits for nginx's page on guest port 80 and returns when it
// came.
func WaitNginx(ctx context.Context, m *vmtest.Machine) (time.Time, error) {
	body, at, err := m.WaitHTTP(ctx, "http://"+m.Addr(80)+"/", http.StatusOK)
	if err != nil {
		return at, err
	}
	if !bytes.Contains(body, []byte("Welcome to nginx")) {
		return at, fmt.Errorf("GET / answered 200 without nginx's page: %.200q", body)
	}
	return at, nil
}

// Upstream is an HTTP server on the host that a guest reaches at 10.0.2.2
// (QEMU's user network maps the host's 127.0.0.1 there).
type Upstream struct {
	srv   *http.Server
	port  int
	token string
	mu    sync.Mutex
	via   []string // the Via headers of the requests it got
}

// NewUpstream starts an upstream server.
func NewUpstream() (*Upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &Upstream{port: l.Addr().(*net.TCPAddr).Port, token: guest.NewUUID()}
	u.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.via = append(u.via, r.Header.Get("Via"))
		u.mu.Unlock()
		fmt.Fprintf(w, "hardvm upstream %s\n", u.token)
	})}
	go func() { _ = u.srv.Serve(l) }()
	return u, nil
}

// GuestURL is the server's address as the guest sees it.
func (u *Upstream) GuestURL() string { return fmt.Sprintf("http://10.0.2.2:%d/hello", u.port) }

// Via returns the Via headers of the requests the server got.
func (u *Upstream) Via() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.via...)
}

// Close stops the server.
func (u *Upstream) Close() error { return u.srv.Close() }

// WaitProxy sends a request for the upstream through the guest's squid
// (guest port 3128) until the upstream's answer comes back through it.
func WaitProxy(ctx context.Context, m *vmtest.Machine, up *Upstream) (time.Time, error) {
	proxy, _ := url.Parse("http://" + m.Addr(3128))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	var last string
	for {
		if m.Exited() {
			return time.Time{}, fmt.Errorf("%w before squid answered (last: %s)", vmtest.ErrExited, last)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, up.GuestURL(), nil)
		if err != nil {
			return time.Time{}, err
		}
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), up.token) {
				return time.Now(), nil
			}
			last = fmt.Sprintf("%s: %.200q", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%w waiting for squid to proxy %s (last: %s)", vmtest.ErrTimeout, up.GuestURL(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Check boots an appliance from an overlay of its qcow2 in dir with a
// NoCloud seed holding a fresh key for the login user, and waits for its
// service to answer (nginx's page, or squid proxying a request to a server
// on the host) and for systemd to say "running" to the user logged in
// with the key from the seed. It powers the machine off afterwards.
func Check(ctx context.Context, o *hardvm.Output, variant, dir string) (Result, error) {
	port := map[string]int{"nginx": 80, "squid": 3128}[variant]
	if port == 0 {
		return Result{}, fmt.Errorf("no check for variant %s", variant)
	}
	key, err := vmtest.NewKey("appliance-check")
	if err != nil {
		return Result{}, err
	}
	g, err := guest.New(ctx, o, guest.Spec{Platform: vm.QEMU, Dir: dir, Hostname: variant + "-check", User: LoginUser, AuthorizedKey: key.Authorized,
		Forward: []int{port, 22}, CPUs: 2, SourceDateEpoch: Epoch})
	if err != nil {
		return Result{}, err
	}
	defer g.Close()
	r := Result{Accel: g.Accel}
	var up *Upstream
	if variant == "squid" {
		if up, err = NewUpstream(); err != nil {
			return r, err
		}
		defer up.Close()
	}
	m, err := g.Start()
	if err != nil {
		return r, err
	}
	defer m.Kill()
	wctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	var at time.Time
	if variant == "nginx" {
		at, err = WaitNginx(wctx, m)
		r.What = "nginx answered GET / with its page"
	} else {
		at, err = WaitProxy(wctx, m, up)
		r.What = "squid proxied a request to a server on the host"
	}
	if err != nil {
		return r, fmt.Errorf("%w (console: %s)", err, m.ConsolePath())
	}
	r.Elapsed = at.Sub(m.Started())
	s, err := Running(wctx, m, key)
	if err != nil {
		return r, fmt.Errorf("%w (console: %s)", err, m.ConsolePath())
	}
	s.Close()
	r.What += "; systemd running, SSH login with the key from the seed"
	return r, shutdown(ctx, m)
}

// shutdown presses the power button and waits for the machine to be off.
func shutdown(ctx context.Context, m *vmtest.Machine) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return m.PowerOff(ctx)
}

// allocated returns the bytes a (sparse) file takes on disk.
func allocated(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512, nil
	}
	return fi.Size(), nil
}
