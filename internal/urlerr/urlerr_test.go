package urlerr

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A transport error of net/http names the URL with its query; StripQuery
// leaves the scheme, host and path; wrapped afterwards, the message holds
// no credential.
func TestStripQuery(t *testing.T) {
	_, err := http.Get("http://127.0.0.1:1/acct/c/disk.vhd?sv=1&sig=c2VjcmV0#frag")
	if err == nil || !strings.Contains(err.Error(), "sig=c2VjcmV0") {
		t.Fatalf("want a transport error quoting the query, got %v", err)
	}
	err = fmt.Errorf("upload: %w", StripQuery(err))
	if s := err.Error(); strings.Contains(s, "sig=") || strings.Contains(s, "frag") || !strings.Contains(s, `"http://127.0.0.1:1/acct/c/disk.vhd"`) {
		t.Fatalf("stripped: %v", err)
	}
	plain := errors.New("no URL here")
	if StripQuery(plain) != plain {
		t.Fatal("an error without a URL changed")
	}
}
