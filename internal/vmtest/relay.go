package vmtest

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

// RelayEnv makes a test binary a TCP relay between its standard input and
// output and the host:port in the variable (see MaybeRelay): QEMU's user
// network runs the command of a guestfwd=…-cmd: rule once per connection
// the guest opens, which is how a guest reaches a fake metadata server on
// the host at 169.254.169.254 (a guestfwd to a tcp: target would serve a
// single connection).
const RelayEnv = "HARDVM_VMTEST_RELAY"

// MaybeRelay relays and exits when the process was started as a relay
// (RelayEnv set); call it first in TestMain.
func MaybeRelay() {
	addr := os.Getenv(RelayEnv)
	if addr == "" {
		return
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		os.Exit(1)
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(os.Stdout, c)
		close(done)
	}()
	_, _ = io.Copy(c, os.Stdin)
	_ = c.(*net.TCPConn).CloseWrite()
	<-done
	c.Close()
	os.Exit(0)
}

// GuestFwd returns the user-network option (for Config.Net) that makes
// guest connections to guest (IP:PORT, inside the network that net= sets)
// reach target (host:port on the host), through this test binary as a
// relay: its TestMain must call MaybeRelay.
func GuestFwd(guest, target string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(self+target, ", ") {
		return "", fmt.Errorf("vmtest: relay path %q or target %q holds a comma or space", self, target)
	}
	return "guestfwd=tcp:" + guest + "-cmd:env " + RelayEnv + "=" + target + " " + self, nil
}
