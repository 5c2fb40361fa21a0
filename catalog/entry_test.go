package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/opencontainers/go-digest"
)

// An entry carries the signed SBOM and FIPS statements beside the signed
// provenance (a verifier needs them), each kind once; unknown kinds are
// refused.
func TestEntryAttachmentKinds(t *testing.T) {
	e := catalogtest.NewEntry("base+fips/aws/x86_64/lts", 1, 3)
	for _, k := range []catalog.AttachmentKind{catalog.SBOMBundle, catalog.FIPSReport, catalog.FIPSBundle} {
		d := digest.Digest(catalogtest.Digest("attachment", k))
		e.Attachments = append(e.Attachments, catalog.Attachment{Kind: k, MediaType: k.DefaultMediaType(), Digest: d, Size: 10})
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("every kind once: %v", err)
	}
	if len(catalog.AttachmentKinds()) != len(e.Attachments) {
		t.Errorf("AttachmentKinds lists %d kinds, the entry carries %d", len(catalog.AttachmentKinds()), len(e.Attachments))
	}
	for _, k := range catalog.AttachmentKinds() {
		if a, ok := e.Attachment(k); !ok || a.MediaType == "application/octet-stream" {
			t.Errorf("kind %s: found %v, media type %q", k, ok, a.MediaType)
		}
	}
	for name, mutate := range map[string]func(*catalog.Entry){
		"twice":   func(e *catalog.Entry) { e.Attachments = append(e.Attachments, e.Attachments[3]) },
		"unknown": func(e *catalog.Entry) { e.Attachments[0].Kind = "signature" },
	} {
		bad := e
		bad.Attachments = append([]catalog.Attachment(nil), e.Attachments...)
		mutate(&bad)
		err := bad.Validate()
		if !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "attachments[") {
			t.Errorf("%s: %v, want ErrInvalid naming the attachment", name, err)
		}
	}
}
