package gcp

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// FuzzCheck feeds arbitrary files to the GCE artifact check: it must never
// panic, and what it accepts is a gzip'd tar whose first member is
// disk.raw.
func FuzzCheck(f *testing.F) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "disk.raw", Mode: 0o644, Size: 1 << 30, Format: tar.FormatGNU})
	zw.Flush()
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:20])
	f.Add([]byte("\x1f\x8b not really"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "disk.tar.gz")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := catalog.OpenArtifact(artifact.Artifact{Format: vm.FormatGCE, Path: p, VirtualSize: 1 << 30, Digest: digest.FromBytes(b)}, "gcp", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if check(src) != nil {
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("accepted a file that is not gzip: %v", err)
		}
		h, err := tar.NewReader(io.Reader(zr)).Next()
		if err != nil || h.Name != "disk.raw" {
			t.Fatalf("accepted a tar.gz whose first member is %v (%v)", h, err)
		}
	})
}

// FuzzParseAPIError feeds arbitrary error bodies: parsing never panics,
// keeps the status, and yields a bounded message without control
// characters (it ends up in errors and logs).
func FuzzParseAPIError(f *testing.F) {
	f.Add(409, []byte(`{"error":{"code":409,"message":"The resource 'projects/p/global/images/x' already exists","status":"ALREADY_EXISTS","errors":[{"message":"x","domain":"global","reason":"alreadyExists"}]}}`))
	f.Add(401, []byte(`{"error":"invalid_grant","error_description":"Bad Request"}`))
	f.Add(503, []byte("<html>Service Unavailable</html>"))
	f.Add(400, []byte(`{"error":{"message":"a\u0000b\nc\u001b[31m"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseAPIError(status, body)
		if e.StatusCode != status {
			t.Fatalf("status %d, want %d", e.StatusCode, status)
		}
		for _, s := range []string{e.Message, e.Reason, e.Status} {
			if len(s) > maxMessage+len("…") || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
				t.Fatalf("unbounded or unclean field %q", s)
			}
		}
		if !strings.HasPrefix(e.Error(), "gcp: HTTP ") {
			t.Fatalf("error %q", e.Error())
		}
	})
}

// FuzzParseRange feeds arbitrary Range headers of a 308: what is accepted
// names a prefix of the upload, bytes=0-N, and never a negative count.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-262143", "bytes=0-0", "bytes=1-5", "bytes=0--1", "bytes=0-+5", "bytes=0-9223372036854775807", "0-5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n, err := parseRange(h)
		switch {
		case err != nil:
			if !errors.Is(err, ErrUpload) || n != 0 {
				t.Fatalf("parseRange(%q) = %d, %v", h, n, err)
			}
		case h == "":
			if n != 0 {
				t.Fatalf("no header: %d bytes", n)
			}
		default:
			last, perr := strconv.ParseInt(strings.TrimPrefix(h, "bytes=0-"), 10, 64)
			if !strings.HasPrefix(h, "bytes=0-") || perr != nil || n != last+1 || n < 1 {
				t.Fatalf("parseRange(%q) = %d", h, n)
			}
		}
	})
}

// FuzzOperation feeds arbitrary operation answers: decoding and reading
// the operation's error never panic, and an error is an ErrOperation with
// a bounded message without control characters.
func FuzzOperation(f *testing.F) {
	f.Add([]byte(`{"name":"operation-1","status":"DONE","error":{"errors":[{"code":"RESOURCE_OPERATION_FAILED","message":"boom"}]}}`))
	f.Add([]byte(`{"name":"operation-2","status":"DONE","httpErrorStatusCode":403,"httpErrorMessage":"FORBIDDEN"}`))
	f.Add([]byte(`{"name":"operation-3","status":"RUNNING","error":{"errors":[]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var op operation
		if json.Unmarshal(b, &op) != nil {
			return
		}
		err := operationError(&op)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrOperation) || len(err.Error()) > 4*maxMessage || strings.ContainsFunc(err.Error(), unicode.IsControl) {
			t.Fatalf("operation error %q", err)
		}
	})
}

// FuzzVerifyObject feeds arbitrary object resources for content: only
// one that names the object and has the content's size and CRC32C is
// accepted.
func FuzzVerifyObject(f *testing.F) {
	f.Add([]byte(`{"name":"o","size":"3","crc32c":"NNpVYQ==","md5Hash":"kAFQmDzST7DWlj99KOF/cg=="}`), []byte("abc"))
	f.Add([]byte(`{"name":"o","size":"3","crc32c":"NNpVYQ=="}`), []byte("abc"))
	f.Add([]byte(`{"name":"o","size":"03","crc32c":"NNpVYQ=="}`), []byte("abc"))
	f.Fuzz(func(t *testing.T, b, content []byte) {
		var obj objectMeta
		if json.Unmarshal(b, &obj) != nil {
			return
		}
		crc := crc32.Checksum(content, castagnoli)
		if verifyObject(&obj, "o", int64(len(content)), crc) != nil {
			return
		}
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], crc)
		if obj.Name != "o" || obj.Size != strconv.Itoa(len(content)) || obj.CRC32C != base64.StdEncoding.EncodeToString(c[:]) {
			t.Fatalf("accepted %+v for %d bytes", obj, len(content))
		}
	})
}
