package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// MarshalStatement returns the JSON of an in-toto statement in a stable
// form: compact, object keys sorted. (protojson alone is deliberately
// unstable; signing and reproducible builds need the same bytes.)
func MarshalStatement(st *Statement) ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: statement: %v", ErrInput, err)
	}
	return stableJSON(st, "")
}

// MarshalStatementIndent is [MarshalStatement] indented for people, as
// provenance.intoto.json is written.
func MarshalStatementIndent(st *Statement) ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: statement: %v", ErrInput, err)
	}
	b, err := stableJSON(st, "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseStatement decodes an in-toto statement of at most [MaxDocumentSize]
// bytes and validates it (type, subjects with digests, predicate type and
// predicate). Unknown fields are rejected.
func ParseStatement(b []byte) (*Statement, error) {
	if len(b) > maxDocumentSize {
		return nil, &DocumentError{Kind: "statement", Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxDocumentSize)}
	}
	st := &intoto.Statement{}
	if err := protojson.Unmarshal(b, st); err != nil {
		return nil, malformed("statement", "", "%v", err)
	}
	if st.GetType() != intoto.StatementTypeUri {
		return nil, malformed("statement", "", "_type %q, want %q", st.GetType(), intoto.StatementTypeUri)
	}
	if err := st.Validate(); err != nil {
		return nil, malformed("statement", "", "%v", err)
	}
	return st, nil
}

// ReadStatement reads and parses a statement from r (see [ParseStatement]).
func ReadStatement(r io.Reader) (*Statement, error) {
	b, err := readLimited("statement", r)
	if err != nil {
		return nil, err
	}
	return ParseStatement(b)
}

// stableJSON encodes m with protojson, then re-encodes it with sorted keys
// and the given indent.
func stableJSON(m proto.Message, indent string) ([]byte, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}

// protoToStruct converts a message to a Struct through its JSON form.
func protoToStruct(m proto.Message) (*structpb.Struct, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	return s, nil
}
