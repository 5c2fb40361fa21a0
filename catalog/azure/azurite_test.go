package azure

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/hardvm/hardvm/internal/testtool"
)

// Azurite's well-known development account (published in its README and
// Microsoft's storage emulator documentation).
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// One Azurite serves the whole package run (it takes seconds to start);
// every test gets a container of its own. TestMain stops it.
var azurite struct {
	once sync.Once
	addr string
	cmd  *exec.Cmd
	dir  string
	out  strings.Builder
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if c := azurite.cmd; c != nil {
		c.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
		os.RemoveAll(azurite.dir)
	}
	os.Exit(code)
}

func runAzurite() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		azurite.err = err
		return
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if azurite.dir, err = os.MkdirTemp("", "azurite-"); err != nil {
		azurite.err = err
		return
	}
	cmd := exec.Command("azurite-blob", "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--location", azurite.dir, "--skipApiVersionCheck", "--silent", "--loose")
	cmd.Stdout, cmd.Stderr = &azurite.out, &azurite.out
	if err := cmd.Start(); err != nil {
		azurite.err = err
		return
	}
	azurite.cmd = cmd
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i > 400 {
			azurite.err = fmt.Errorf("azurite did not listen on %s: %v", addr, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	azurite.addr = addr
}

// startAzurite returns a client of a new container, named after the test,
// in the package's Azurite blob service on 127.0.0.1.
func startAzurite(t testing.TB) *container.Client {
	t.Helper()
	testtool.Require(t, "azurite-blob")
	azurite.once.Do(runAzurite)
	if azurite.err != nil {
		t.Fatalf("%v\n%s", azurite.err, azurite.out.String())
	}
	cred, err := azblob.NewSharedKeyCredential(devAccount, devKey)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(t.Name()))
	url := fmt.Sprintf("http://%s/%s/%s", azurite.addr, devAccount, name[:min(len(name), 63)])
	c, err := container.NewClientWithSharedKeyCredential(url, cred, &container.ClientOptions{
		ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	return c
}
