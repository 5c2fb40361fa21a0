package azure

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

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
		"--location", azurite.dir, "--skipApiVersionCheck", "--silent")
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

// sasContainer returns the registrar's Container for the Azurite
// container c, authenticated as the CLI's is: by a SAS URL (a service SAS
// signed with the development account's key, create/write/delete
// permissions on the container only). The tests' own client c, with the
// shared key, is an implementation independent of the registrar's, to
// check what it wrote.
func sasContainer(t testing.TB, c *container.Client) *Container {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(devAccount, devKey)
	if err != nil {
		t.Fatal(err)
	}
	name := c.URL()[strings.LastIndex(c.URL(), "/")+1:]
	qp, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour), ContainerName: name,
		Permissions: (&sas.ContainerPermissions{Create: true, Write: true, Delete: true}).String(),
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := NewContainer(c.URL()+"?"+qp.Encode(), &policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return ctr
}

// azuriteBlob returns the fake ARM's look-up of a version's source blob in
// the container c: the blob must be in c, in the account storageAccountID
// names, a page blob of whole pages, ending with a fixed VHD's footer.
func azuriteBlob(c *container.Client) func(uri, storageAccountID string) error {
	return func(uri, storageAccountID string) error {
		name, ok := strings.CutPrefix(uri, c.URL()+"/")
		if !ok || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("not a blob of container %s", c.URL())
		}
		if !strings.HasSuffix(strings.ToLower(storageAccountID), "/providers/microsoft.storage/storageaccounts/"+devAccount) {
			return fmt.Errorf("the blob is in account %s, storageAccountId says %s", devAccount, storageAccountID)
		}
		ctx := context.Background()
		pb := c.NewPageBlobClient(name)
		props, err := pb.GetProperties(ctx, nil)
		if err != nil {
			return err
		}
		if props.BlobType == nil || *props.BlobType != blob.BlobTypePageBlob {
			return fmt.Errorf("blob type %v, not a page blob", props.BlobType)
		}
		size := *props.ContentLength
		if size < 512 || size%512 != 0 {
			return fmt.Errorf("%d bytes: not whole 512-byte pages", size)
		}
		resp, err := pb.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: size - 512, Count: 512}})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		footer, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		// VHD footer: cookie "conectix", disk type at offset 60 (2: fixed).
		if len(footer) != 512 || string(footer[:8]) != "conectix" || binary.BigEndian.Uint32(footer[60:64]) != 2 {
			return fmt.Errorf("does not end with a fixed VHD footer")
		}
		return nil
	}
}
