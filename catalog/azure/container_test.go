package azure

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/vm"
)

// The SAS of the container URL is a secret: it appears in no location,
// log line or error, and an error of the Blob service is an
// *azcore.ResponseError with the service's error code.
func TestContainerSASNeverLeaks(t *testing.T) {
	var logs bytes.Buffer
	r, _, ctr := newTestRegistrar(t, WithKeepBlob(), WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	sc := r.cfg.Container
	if len(sc.sas) == 0 || sc.sas.Get("sig") == "" {
		t.Fatal("the test container is not authenticated by a SAS")
	}
	sig := sc.sas.Get("sig")
	a := vhdArtifact(t)
	loc, err := r.Register(context.Background(), a, catalogtest.EntryFor(vm.Azure, a, 1))
	if err != nil {
		t.Fatal(err)
	}
	if loc.URI == "" || strings.Contains(loc.URI, "?") || strings.Contains(loc.URI, sig) || !strings.HasPrefix(loc.URI, ctr.URL()+"/") {
		t.Errorf("location URI %q", loc.URI)
	}
	if logs.Len() == 0 || strings.Contains(logs.String(), sig) || strings.Contains(logs.String(), "sig=") {
		t.Errorf("logs hold the SAS (or nothing):\n%s", logs.String())
	}

	// A SAS that may only read: the Blob service refuses the Put Blob.
	cred, _ := azblob.NewSharedKeyCredential(devAccount, devKey)
	qp, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour), ContainerName: ctr.URL()[strings.LastIndex(ctr.URL(), "/")+1:],
		Permissions: (&sas.ContainerPermissions{Read: true}).String(),
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := NewContainer(ctr.URL()+"?"+qp.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = ro.createPageBlob(context.Background(), "x.vhd", 4096, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 403 || re.ErrorCode == "" {
		t.Fatalf("Put Blob with a read-only SAS = %v, want a 403 ResponseError", err)
	}
	if strings.Contains(err.Error(), qp.Signature()) || strings.Contains(err.Error(), "sig=") {
		t.Errorf("the error holds the SAS: %v", err)
	}
	// Deleting a blob that does not exist is not an error.
	if err := sc.deleteBlob(context.Background(), "never-was.vhd"); err != nil {
		t.Fatal(err)
	}
}

// NewContainer refuses what is not a container URL, without quoting it.
func TestNewContainerRefuses(t *testing.T) {
	for _, u := range []string{"", "not a url", "ftp://host/c", "https:///c?sig=secret", "https://host?sig=secret", "https://user:pw@host/c?sig=secret"} {
		_, err := NewContainer(u, nil)
		if !errors.Is(err, ErrOption) || strings.Contains(err.Error(), "secret") {
			t.Errorf("NewContainer(%q) = %v", u, err)
		}
	}
	c, err := NewContainer("https://acct.blob.core.windows.net/vhds/?sv=2024&sig=c2VjcmV0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL() != "https://acct.blob.core.windows.net/vhds" || c.BlobURL("a b.vhd") != "https://acct.blob.core.windows.net/vhds/a%20b.vhd" {
		t.Errorf("URL %s, BlobURL %s", c.URL(), c.BlobURL("a b.vhd"))
	}
}

// A transport error (no answer: the connection refused) names the URL it
// was sending to; the SAS in that URL's query is cut from it. Before, the
// error quoted the blob's URL with sig= in full (watched it fail).
func TestContainerTransportErrorHidesSAS(t *testing.T) {
	c, err := NewContainer("http://127.0.0.1:1/devstoreaccount1/images?sv=2021-08-06&sr=c&sp=rcw&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D",
		&policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.createPageBlob(context.Background(), "disk.vhd", 512, nil)
	if err == nil || strings.Contains(err.Error(), "sig=") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("Put Blob to a closed port = %v, want an error without the SAS", err)
	}
	if !strings.Contains(err.Error(), "/devstoreaccount1/images/disk.vhd") {
		t.Errorf("the error does not name the blob: %v", err)
	}
}
