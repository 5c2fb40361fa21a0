package provenance

import (
	"encoding/json"
	"fmt"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/spdx/tools-golang/spdx"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/fips"
)

// FIPSPredicateType is the predicate type of a FIPS report statement
// (fips.PredicateType).
const FIPSPredicateType = fips.PredicateType

// SBOMStatement wraps an SPDX document as an in-toto statement about the
// artifacts (predicate type [SBOMPredicateType]), so it is signed and
// verified like the provenance.
func SBOMStatement(doc *spdx.Document, artifacts []artifact.Artifact) (*Statement, error) {
	if doc == nil {
		return nil, fmt.Errorf("%w: nil SBOM", ErrInput)
	}
	b, err := MarshalSBOM(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: SBOM: %v", ErrInput, err)
	}
	return statementOf(SBOMPredicateType, b, artifacts)
}

// FIPSStatement wraps a FIPS report (from fips.Check on the image's root
// filesystem) as an in-toto statement about the artifacts (predicate type
// [FIPSPredicateType]). A failing report can be attested too: a policy with
// [RequireFIPS] rejects it.
func FIPSStatement(report *fips.Report, artifacts []artifact.Artifact) (*Statement, error) {
	if report == nil {
		return nil, fmt.Errorf("%w: nil FIPS report", ErrInput)
	}
	b, err := json.Marshal(report)
	if err != nil {
		return nil, fmt.Errorf("%w: FIPS report: %v", ErrInput, err)
	}
	return statementOf(FIPSPredicateType, b, artifacts)
}

// FIPSReport decodes the FIPS report a statement carries.
func FIPSReport(st *Statement) (*fips.Report, error) {
	if st.GetPredicateType() != FIPSPredicateType {
		return nil, fmt.Errorf("%w: predicate type %q, want %q", ErrPredicateType, st.GetPredicateType(), FIPSPredicateType)
	}
	b, err := st.GetPredicate().MarshalJSON()
	if err != nil {
		return nil, malformed("report", "", "%v", err)
	}
	var r fips.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, malformed("report", "", "%v", err)
	}
	return &r, nil
}

// StatementSBOM decodes and checks the SPDX document an SBOM statement
// carries.
func StatementSBOM(st *Statement) (*spdx.Document, error) {
	if st.GetPredicateType() != SBOMPredicateType {
		return nil, fmt.Errorf("%w: predicate type %q, want %q", ErrPredicateType, st.GetPredicateType(), SBOMPredicateType)
	}
	b, err := st.GetPredicate().MarshalJSON()
	if err != nil {
		return nil, malformed("sbom", "", "%v", err)
	}
	return parseSBOM(b)
}

func statementOf(predicateType string, predicate []byte, artifacts []artifact.Artifact) (*Statement, error) {
	if len(artifacts) == 0 {
		return nil, fmt.Errorf("%w: a statement needs at least one artifact", ErrInput)
	}
	if err := checkInputs(&artifact.Lock{}, artifacts); err != nil {
		return nil, err
	}
	subjects, err := artifactSubjects(nil, artifacts)
	if err != nil {
		return nil, err
	}
	var pred map[string]any
	if err := json.Unmarshal(predicate, &pred); err != nil {
		return nil, fmt.Errorf("%w: predicate: %v", ErrInput, err)
	}
	ps, err := toStruct(pred)
	if err != nil {
		return nil, fmt.Errorf("%w: predicate: %v", ErrInput, err)
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, Subject: subjects, PredicateType: predicateType, Predicate: ps}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: statement: %v", ErrInput, err)
	}
	return st, nil
}
