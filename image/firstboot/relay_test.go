package firstboot

import (
	"io"
	"net"
	"os"
	"testing"
)

// relayEnv makes the test binary a TCP relay between its standard
// input/output and the address in the variable: QEMU runs it for each
// connection the guest opens to a guestfwd address (guestfwd=...-cmd:...),
// which is how a guest reaches a fake metadata server at 169.254.169.254.
const relayEnv = "HARDVM_FIRSTBOOT_TEST_RELAY"

func TestMain(m *testing.M) {
	if addr := os.Getenv(relayEnv); addr != "" {
		os.Exit(relay(addr))
	}
	os.Exit(m.Run())
}

func relay(addr string) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 1
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(os.Stdout, c)
		close(done)
	}()
	_, _ = io.Copy(c, os.Stdin)
	_ = c.(*net.TCPConn).CloseWrite()
	<-done
	return 0
}
