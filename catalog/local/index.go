package local

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// The index file is JSON lines: a header, one record per entry (by stream,
// then version), and a trailer with the SHA-256 of every byte before it,
// so that a damaged or truncated index is detected, never half-read.
const indexFormat = "hardvm-catalog-index"

type header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Entries int    `json:"entries"`
}

type record struct {
	Ref        vm.Ref        `json:"ref"`
	Entry      digest.Digest `json:"entry"` // digest of the entry file
	Published  time.Time     `json:"published"`
	Deprecated time.Time     `json:"deprecated,omitzero"`
	Regions    []string      `json:"regions,omitempty"`
}

type trailer struct {
	SHA256 string `json:"sha256"`
}

// errNewerIndex reports an index of a later version: Repair leaves it to
// the hardvm that wrote it.
var errNewerIndex = errors.New("written by a newer hardvm")

// maxLine bounds one index line; records are a few hundred bytes.
const maxLine = 1 << 20

// readIndex parses an index file. name is used in errors.
func readIndex(r io.Reader, name string) (*catalog.Index, error) {
	corrupt := func(line int, f string, a ...any) error {
		return &catalog.CorruptError{Path: name, Line: line, Err: fmt.Errorf(f, a...)}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	h := sha256.New()
	line := 0
	next := func() ([]byte, bool) {
		if !sc.Scan() {
			return nil, false
		}
		line++
		return sc.Bytes(), true
	}
	b, ok := next()
	if !ok {
		if err := sc.Err(); err != nil {
			return nil, corrupt(1, "%w", err)
		}
		return nil, corrupt(1, "empty index (want a %s header)", indexFormat)
	}
	var hd header
	if err := strictUnmarshal(b, &hd); err != nil || hd.Format != indexFormat {
		return nil, corrupt(1, "not a %s header: %.80q", indexFormat, b)
	}
	if hd.Version > 1 {
		return nil, corrupt(1, "index version %d (this build reads version 1): %w", hd.Version, errNewerIndex)
	}
	if hd.Version != 1 {
		return nil, corrupt(1, "index version %d", hd.Version)
	}
	if hd.Entries < 0 {
		return nil, corrupt(1, "negative entry count %d", hd.Entries)
	}
	hashLine(h, b)
	x := catalog.NewIndex()
	for i := 0; i < hd.Entries; i++ {
		b, ok := next()
		if !ok {
			if err := sc.Err(); err != nil {
				return nil, corrupt(line+1, "%w", err)
			}
			return nil, corrupt(line+1, "truncated: %d of %d entries", i, hd.Entries)
		}
		var rec record
		if err := strictUnmarshal(b, &rec); err != nil {
			return nil, corrupt(line, "record: %w", err)
		}
		if rec.Ref.Digest == "" || !catalog.ValidDigest(rec.Entry) {
			return nil, corrupt(line, "record of %s lacks a digest", rec.Ref)
		}
		if _, dup := x.Put(catalog.Item{Summary: catalog.Summary{Ref: rec.Ref, Published: rec.Published, Deprecated: rec.Deprecated, Regions: rec.Regions}, Key: rec.Entry.String()}); dup {
			return nil, corrupt(line, "%s listed twice", rec.Ref)
		}
		hashLine(h, b)
	}
	b, ok = next()
	if !ok {
		if err := sc.Err(); err != nil {
			return nil, corrupt(line+1, "%w", err)
		}
		return nil, corrupt(line+1, "truncated: no checksum trailer")
	}
	var tr trailer
	if err := strictUnmarshal(b, &tr); err != nil || tr.SHA256 == "" {
		return nil, corrupt(line, "want the checksum trailer after %d entries, got %.80q", hd.Entries, b)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != tr.SHA256 {
		return nil, corrupt(line, "checksum %s, trailer says %s", got, tr.SHA256)
	}
	if _, ok := next(); ok {
		return nil, corrupt(line, "data after the trailer")
	}
	if err := sc.Err(); err != nil {
		return nil, corrupt(line, "%w", err)
	}
	return x, nil
}

func hashLine(h hash.Hash, b []byte) {
	h.Write(b)
	h.Write([]byte{'\n'})
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// writeIndex writes x in the index format.
func writeIndex(w io.Writer, x *catalog.Index) error {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(header{Format: indexFormat, Version: 1, Entries: x.Len()}); err != nil {
		return err
	}
	var err error
	x.All(func(it catalog.Item) bool {
		// The store's keys are the digests of entry files.
		var d digest.Digest
		if d, err = digest.Parse(it.Key); err != nil {
			err = fmt.Errorf("local: entry key of %s: %w", it.Ref, err)
			return false
		}
		err = enc.Encode(record{Ref: it.Ref, Entry: d, Published: it.Published.UTC(), Deprecated: it.Deprecated.UTC(), Regions: it.Regions})
		return err == nil
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "{\"sha256\":%q}\n", hex.EncodeToString(h.Sum(nil)))
	return err
}
