package gcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
)

// faultProxy stands between the registrar's client and fake-gcs-server (the
// real storage peer, which holds the bytes) and injects the failures a
// resumable upload must survive, as the protocol documents them
// (cloud.google.com/storage/docs/performing-resumable-uploads): a refused
// initiation (429), a chunk refused before the server read it (503), a
// chunk the server committed whose answer was lost (503 after forwarding),
// a chunk the server committed only in part (308 with a shorter Range),
// and a final object whose CRC32C is not that of the bytes sent.
//
// It checks what the client sends: every chunk starts at the offset the
// server has committed (no byte is sent twice, none skipped), every chunk
// but the last is a multiple of 256 KiB, and Content-Range names the
// file's total size.
//
// Stand-in: status queries (an empty PUT, Content-Range bytes */TOTAL)
// are answered by the proxy, per the documented protocol (308 and Range
// bytes=0-N of what the server committed, or the object once it exists),
// because fake-gcs-server v1.56.1 takes such a request as the end of a
// streaming upload and finalizes the object (fakestorage/upload.go,
// uploadFileContent).
type faultProxy struct {
	t        testing.TB
	upstream string // fake-gcs-server's base URL
	srv      *httptest.Server

	mu        sync.Mutex
	initFail  int               // initiations to refuse with 429
	faults    map[int]string    // chunk PUT number (1-based) -> refuse, lose, partial, drop
	badCRC    bool              // corrupt the final object's crc32c
	foreign   bool              // answer the initiation with a session on another host
	committed int64             // bytes the server holds for the session
	object    [2]string         // bucket, object of the session
	puts      int               // chunk PUTs received
	queries   int               // status queries answered
	seen      map[string]string // fault -> Content-Range of the chunk it hit
}

func newFaultProxy(t testing.TB, upstream string) *faultProxy {
	p := &faultProxy{t: t, upstream: upstream, faults: map[int]string{}, seen: map[string]string{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// forward sends the request to fake-gcs-server with body and returns the
// answer, its Location moved to the proxy.
func (p *faultProxy) forward(r *http.Request, body []byte) (*http.Response, []byte) {
	req, err := http.NewRequest(r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("fake-gcs-server: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		resp.Header.Set("Location", strings.Replace(loc, p.upstream, p.srv.URL, 1))
	}
	return resp, b
}

func reply(w http.ResponseWriter, resp *http.Response, body []byte) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/upload/storage/v1/b/"):
		if p.initFail > 0 {
			p.initFail--
			apiError(w, http.StatusTooManyRequests, "injected: rate limited")
			return
		}
		resp, b := p.forward(r, body)
		if p.foreign {
			resp.Header.Set("Location", strings.Replace(resp.Header.Get("Location"), p.srv.URL, "http://127.0.0.2:9", 1))
		}
		p.object = [2]string{strings.Split(strings.TrimPrefix(r.URL.Path, "/upload/storage/v1/b/"), "/")[0], q.Get("name")}
		p.committed = 0
		reply(w, resp, b)
	case r.Method == http.MethodPut && q.Has("upload_id"):
		p.chunk(w, r, body)
	default:
		resp, b := p.forward(r, body)
		reply(w, resp, b)
	}
}

func (p *faultProxy) chunk(w http.ResponseWriter, r *http.Request, body []byte) {
	cr := r.Header.Get("Content-Range")
	rng, totalS, _ := strings.Cut(strings.TrimPrefix(cr, "bytes "), "/")
	total, err := strconv.ParseInt(totalS, 10, 64)
	if err != nil {
		p.t.Errorf("Content-Range %q does not name the total size", cr)
	}
	if rng == "*" && len(body) == 0 { // a status query
		p.queries++
		if p.committed == total {
			u, _ := url.Parse("/storage/v1/b/" + p.object[0] + "/o/" + url.PathEscape(p.object[1]))
			resp, b := p.forward(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}, nil)
			reply(w, resp, b)
			return
		}
		if p.committed > 0 {
			w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", p.committed-1))
		}
		w.WriteHeader(http.StatusPermanentRedirect)
		return
	}
	firstS, lastS, _ := strings.Cut(rng, "-")
	first, _ := strconv.ParseInt(firstS, 10, 64)
	last, _ := strconv.ParseInt(lastS, 10, 64)
	if first != p.committed || last-first+1 != int64(len(body)) {
		p.t.Errorf("chunk %q of %d bytes, the server has %d", cr, len(body), p.committed)
	}
	if last+1 != total && len(body)%(256<<10) != 0 {
		p.t.Errorf("chunk %q is not the last and not a multiple of 256 KiB", cr)
	}
	p.puts++
	fault := p.faults[p.puts]
	if fault != "" {
		p.seen[fault] = cr
	}
	switch fault {
	case "refuse":
		apiError(w, http.StatusServiceUnavailable, "injected: backend unavailable")
		return
	case "drop": // the connection breaks before any answer
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			p.t.Fatal(err)
		}
		conn.Close()
		return
	case "partial": // the server keeps the first 256 KiB only
		if len(body) <= 256<<10 {
			p.t.Fatalf("partial fault on a chunk of %d bytes", len(body))
		}
		body = body[:256<<10]
		r.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, first+int64(len(body))-1, total))
	}
	resp, b := p.forward(r, body)
	switch {
	case resp.StatusCode == http.StatusPermanentRedirect || resp.StatusCode < 300:
		p.committed = first + int64(len(body))
	default:
		p.t.Errorf("fake-gcs-server answered %s to %q: %s", resp.Status, cr, b)
	}
	if fault == "lose" {
		apiError(w, http.StatusServiceUnavailable, "injected: the answer was lost")
		return
	}
	if p.badCRC && resp.StatusCode < 300 {
		var obj map[string]any
		json.Unmarshal(b, &obj)
		obj["crc32c"] = "AAAAAA=="
		b, _ = json.Marshal(obj)
	}
	reply(w, resp, b)
}

// objectDigest returns the SHA-256 of the object's content in the
// storage peer, read with the Cloud Storage client (an implementation
// independent of this package's).
func objectDigest(t *testing.T, gcs *storage.Client, bucket, object string) [32]byte {
	t.Helper()
	rd, err := gcs.Bucket(bucket).Object(object).NewReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rd); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// An upload survives each failure the protocol documents, sends no byte
// twice, and fake-gcs-server ends up with exactly the file.
func TestUploadResumesAfterFailures(t *testing.T) {
	ctx := context.Background()
	gcs, gcsURL := startFakeGCS(t)
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	path := writeGCETar(t, 3<<20) // about 3 MiB of tar.gz: six chunks of 512 KiB and a last one
	want, _ := os.ReadFile(path)
	for _, tt := range []struct {
		name     string
		initFail int
		faults   map[int]string
	}{
		{"none", 0, nil},
		{"initiation rate limited", 2, nil},
		{"chunk refused", 0, map[int]string{2: "refuse", 3: "refuse"}},
		{"answer lost", 0, map[int]string{1: "lose"}},
		{"partly committed", 0, map[int]string{1: "partial", 4: "partial"}},
		{"last answer lost", 0, map[int]string{7: "lose"}},
		{"all at once", 1, map[int]string{1: "partial", 2: "refuse", 4: "lose", 6: "partial", 9: "lose"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newFaultProxy(t, gcsURL)
			p.initFail = tt.initFail
			for k, v := range tt.faults {
				p.faults[k] = v
			}
			cl := clientFor(t, p.srv.URL, "http://127.0.0.1:1")
			object := strings.ReplaceAll(tt.name, " ", "/") + ".tar.gz" // names with '/' are escaped whole
			err := uploadObject(ctx, cl, "images", object, openTar(t, path, false, nil), map[string]string{"hardvm-ref": "x"}, 512<<10)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.faults {
				if p.seen[v] == "" {
					t.Errorf("fault %s on PUT %d never happened (%d PUTs)", v, k, p.puts)
				}
			}
			if got := objectDigest(t, gcs, "images", object); got != sha256.Sum256(want) {
				t.Fatal("the object in fake-gcs-server is not the file")
			}
			attrs, err := gcs.Bucket("images").Object(object).Attrs(ctx)
			if err != nil || attrs.Metadata["hardvm-ref"] != "x" || attrs.ContentType != "application/gzip" {
				t.Fatalf("object attributes %+v, %v", attrs, err)
			}
			// A failed request is followed by a status query; a partial
			// commit is not (its 308 says what the server has).
			failed := 0
			for _, f := range tt.faults {
				if f != "partial" {
					failed++
				}
			}
			if p.queries != failed {
				t.Errorf("%d status queries after %d failed requests", p.queries, failed)
			}
		})
	}
}

// An upload whose failures outlast the retries fails with the server's
// error and leaves no object; so does one whose session the server opens
// on another host (the client would send the credentials there), and
// one whose object has another CRC32C than the bytes sent is deleted.
func TestUploadFailures(t *testing.T) {
	ctx := context.Background()
	gcs, gcsURL := startFakeGCS(t)
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	path := writeGCETar(t, 1<<20)
	gone := func(t *testing.T) {
		t.Helper()
		if _, err := gcs.Bucket("images").Object("x.tar.gz").Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
			t.Fatalf("object exists after a failed upload: %v", err)
		}
	}
	t.Run("retries exhausted", func(t *testing.T) {
		p := newFaultProxy(t, gcsURL)
		for i := 1; i <= 20; i++ {
			p.faults[i] = "refuse"
		}
		err := uploadObject(ctx, clientFor(t, p.srv.URL, "http://127.0.0.1:1"), "images", "x.tar.gz", openTar(t, path, false, nil), nil, 256<<10)
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "backend unavailable") {
			t.Fatalf("upload = %v, want the 503", err)
		}
		if p.puts != testRetry.attempts {
			t.Errorf("%d PUTs, want %d attempts", p.puts, testRetry.attempts)
		}
		gone(t)
	})
	// A broken connection is a transport error, whose text names the URL
	// it was sending to: the session URI, a credential, must not be in it.
	t.Run("connection lost, retries exhausted", func(t *testing.T) {
		p := newFaultProxy(t, gcsURL)
		for i := 1; i <= 20; i++ {
			p.faults[i] = "drop"
		}
		err := uploadObject(ctx, clientFor(t, p.srv.URL, "http://127.0.0.1:1"), "images", "x.tar.gz", openTar(t, path, false, nil), nil, 256<<10)
		if err == nil || strings.Contains(err.Error(), "upload_id") {
			t.Fatalf("upload = %v, want a transport error without the session URI", err)
		}
		if p.puts != testRetry.attempts {
			t.Errorf("%d PUTs, want %d attempts", p.puts, testRetry.attempts)
		}
		gone(t)
	})
	t.Run("initiation refused", func(t *testing.T) {
		p := newFaultProxy(t, gcsURL)
		p.initFail = 100
		err := uploadObject(ctx, clientFor(t, p.srv.URL, "http://127.0.0.1:1"), "images", "x.tar.gz", openTar(t, path, false, nil), nil, 256<<10)
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("upload = %v, want the 429", err)
		}
		gone(t)
	})
	t.Run("session on another host", func(t *testing.T) {
		p := newFaultProxy(t, gcsURL)
		p.foreign = true
		err := uploadObject(ctx, clientFor(t, p.srv.URL, "http://127.0.0.1:1"), "images", "x.tar.gz", openTar(t, path, false, nil), nil, 256<<10)
		if !errors.Is(err, ErrUpload) || strings.Contains(err.Error(), "upload_id") {
			t.Fatalf("upload = %v, want ErrUpload without the session URI", err)
		}
		if p.puts != 0 {
			t.Errorf("%d chunks sent", p.puts)
		}
		gone(t)
	})
	t.Run("wrong CRC32C", func(t *testing.T) {
		p := newFaultProxy(t, gcsURL)
		p.badCRC = true
		err := uploadObject(ctx, clientFor(t, p.srv.URL, "http://127.0.0.1:1"), "images", "x.tar.gz", openTar(t, path, false, nil), nil, 256<<10)
		if !errors.Is(err, ErrUpload) || !strings.Contains(err.Error(), "CRC32C") {
			t.Fatalf("upload = %v, want ErrUpload (CRC32C)", err)
		}
		gone(t)
	})
	t.Run("bad chunk size", func(t *testing.T) {
		err := uploadObject(ctx, clientFor(t, gcsURL, "http://127.0.0.1:1"), "images", "x.tar.gz", openTar(t, path, false, nil), nil, 100<<10)
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("upload = %v, want ErrConfig", err)
		}
	})
}

// Compute Engine mutations whose answer is lost are retried with the same
// requestId, which the API deduplicates: the image is created once and
// the registrar does not see a conflict. Error answers are *APIError,
// with the server's status and reason.
func TestComputeRetriesAndErrors(t *testing.T) {
	ctx := context.Background()
	fake := newFakeCompute(t, func(string, string) bool { return true })
	cl := clientFor(t, "http://127.0.0.1:1", fake.srv.URL)
	ref := testRef()
	spec := imageSpec{name: imageName(ref), arch: "X86_64", source: "https://storage.googleapis.com/b/o.tar.gz"}
	fake.lose["POST images"] = 2
	fake.lose["GET operations"] = 1
	if _, err := insertImage(ctx, cl, "p", spec, time.Millisecond); err != nil {
		t.Fatalf("insert with lost answers: %v", err)
	}
	if fake.lose["POST images"] != 0 || len(fake.images) != 1 || len(fake.ops) != 1 {
		t.Fatalf("lost answers left %v, images %d, operations %d", fake.lose, len(fake.images), len(fake.ops))
	}
	// A second insert (a new request) is refused: the image exists.
	_, err := insertImage(ctx, cl, "p", spec, time.Millisecond)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.Reason != "Conflict" || !strings.Contains(ae.Message, "already exists") {
		t.Fatalf("second insert = %v, want the 409", err)
	}
	if _, err := getImage(ctx, cl, "p", "nothing"); !isNotFound(err) {
		t.Fatalf("get of a missing image = %v, want a 404", err)
	}
	fake.lose["DELETE images"] = 1
	if err := deleteImage(ctx, cl, "p", spec.name, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if len(fake.images) != 0 {
		t.Fatal("image not deleted")
	}
	// A 500 that lasts is returned after the retries.
	fake.failOn["GET images"] = "injected outage"
	if _, err := getImage(ctx, cl, "p", spec.name); !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Message != "injected outage" {
		t.Fatalf("get during an outage = %v", err)
	}
	// A non-idempotent call (setIamPolicy) is not retried.
	delete(fake.failOn, "GET images")
	if _, err := insertImage(ctx, cl, "p", spec, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	fake.lose["POST images/setIamPolicy"] = 1
	if err := shareImage(ctx, cl, "p", spec.name, []string{"group:a@example.com"}); !errors.As(err, &ae) || ae.StatusCode != 503 {
		t.Fatalf("share with a lost answer = %v, want the 503", err)
	}
}

// A connection refused is retried; a certificate the client does not
// trust, or a cancelled context, is not.
func TestTransient(t *testing.T) {
	ctx := context.Background()
	l := httptest.NewServer(http.NotFoundHandler())
	refused := l.URL
	l.Close()
	_, err := http.Get(refused)
	if err == nil || !transient(ctx, err) {
		t.Errorf("connection refused (%v) is not transient", err)
	}
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	_, err = http.Get(tlsSrv.URL)
	if err == nil || transient(ctx, err) {
		t.Errorf("untrusted certificate (%v) is transient", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, tlsSrv.URL, nil)
	if _, err = http.DefaultClient.Do(req); err == nil || transient(cctx, err) {
		t.Errorf("cancelled (%v) is transient", err)
	}
}
