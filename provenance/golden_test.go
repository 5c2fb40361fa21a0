package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
	"google.golang.org/protobuf/encoding/protojson"
)

// goldenValidators check a golden file's bytes with the format's own
// libraries, never with this package's parsers: the golden files are written
// by the code under test (go test -update), so comparing against them alone
// would accept whatever that code once wrote.
var goldenValidators = map[string]func([]byte) error{
	"sbom.spdx.json":         validateSPDX,
	"provenance.intoto.json": validateSLSA,
}

// TestGoldenFilesValidate runs the validators on the committed golden files.
// golden() also runs them, so that -update cannot write an invalid file.
func TestGoldenFilesValidate(t *testing.T) {
	for name, validate := range goldenValidators {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(b); err != nil {
			t.Errorf("testdata/%s: %v", name, err)
		}
	}
}

// validateSPDX reads b with tools-golang's JSON reader, runs its document
// validation (spdxlib.ValidateDocument: SPDX ids, relationships, described
// packages), and checks that tools-golang's writer gives the same JSON back:
// a field tools-golang does not know would be dropped on the way.
func validateSPDX(b []byte) error {
	doc, err := spdxjson.Read(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("tools-golang cannot read it: %w", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" {
		return fmt.Errorf("spdxVersion %q, want SPDX-2.3", doc.SPDXVersion)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		return fmt.Errorf("tools-golang's validation: %w", err)
	}
	var out bytes.Buffer
	if err := spdxjson.Write(doc, &out); err != nil {
		return fmt.Errorf("tools-golang cannot write it back: %w", err)
	}
	return sameJSON(b, out.Bytes())
}

// validateSLSA decodes b strictly (unknown fields are errors) into the
// in-toto Statement v1 type and its predicate into the SLSA Provenance v1
// type of github.com/in-toto/attestation, and runs both types' Validate.
func validateSLSA(b []byte) error {
	var st intoto.Statement
	if err := protojson.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("not an in-toto Statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return fmt.Errorf("in-toto Statement: %w", err)
	}
	if st.GetType() != intoto.StatementTypeUri {
		return fmt.Errorf("_type %q, want %q", st.GetType(), intoto.StatementTypeUri)
	}
	if st.GetPredicateType() != "https://slsa.dev/provenance/v1" {
		return fmt.Errorf("predicateType %q, want SLSA provenance v1", st.GetPredicateType())
	}
	pb, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return err
	}
	var pred slsa.Provenance
	if err := protojson.Unmarshal(pb, &pred); err != nil {
		return fmt.Errorf("predicate is not SLSA Provenance v1: %w", err)
	}
	if err := pred.Validate(); err != nil {
		return fmt.Errorf("SLSA Provenance v1: %w", err)
	}
	return nil
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(a, b []byte) error {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return err
	}
	if !reflect.DeepEqual(va, vb) {
		na, _ := json.MarshalIndent(va, "", " ")
		nb, _ := json.MarshalIndent(vb, "", " ")
		return fmt.Errorf("tools-golang does not keep every field: read and written back it differs (normalized, %s)", diffLine(na, nb))
	}
	return nil
}
