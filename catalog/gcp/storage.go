package gcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/internal/urlerr"
)

// uploadQuantum is the unit of a resumable upload's chunks: every chunk
// but the last is a multiple of 256 KiB.
const uploadQuantum = 256 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// objectMeta is the part of a Cloud Storage object resource the registrar
// reads back.
type objectMeta struct {
	Name       string `json:"name"`
	Size       string `json:"size"`       // decimal, as the API encodes int64
	Generation string `json:"generation"` // decimal
	CRC32C     string `json:"crc32c"`     // base64 of the big-endian CRC32C
}

// objectURL is the JSON API URL of an object (its name escaped whole, '/'
// included).
func (cl *client) objectURL(bucket, object string) string {
	return cl.storage.String() + "/storage/v1/b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(object)
}

// uploadObject streams src to gs://bucket/object with the given metadata
// in one pass, with the resumable upload protocol of the JSON API: one
// POST opens a session, PUTs send chunks (multiples of 256 KiB, each held
// in one buffer of chunk bytes, so that it can be sent again), and the
// last PUT, which finalizes the object, is only sent once src has
// verified the artifact's digest. An answer 308 names the bytes the
// server committed; what it did not is sent again. Failed requests
// (transport errors, 408, 429, 5xx) are retried with exponential backoff
// after asking the server what it committed. The object the server
// created is checked against what was sent (size, CRC32C) and
// deleted if it differs. A failed upload (a wrong digest, a cancelled
// ctx) is cancelled: no object is created.
func uploadObject(ctx context.Context, cl *client, bucket, object string, src *catalog.ArtifactFile, meta map[string]string, chunk int) (err error) {
	if chunk < uploadQuantum || chunk%uploadQuantum != 0 {
		return fmt.Errorf("%w: chunk size %d is not a positive multiple of 256 KiB", ErrConfig, chunk)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("gcp: upload gs://%s/%s: %w", bucket, object, err)
		}
	}()
	total := src.Size()
	session, err := cl.startUpload(ctx, bucket, object, total, meta)
	if err != nil {
		return err
	}
	u := &upload{cl: cl, session: session, total: total}
	done := false
	defer func() {
		if !done {
			u.cancel(context.WithoutCancel(ctx))
		}
	}()
	crc := crc32.New(castagnoli) // hardware-assisted; MD5 would cost 0.1 s of CPU per 64 MiB
	r := io.TeeReader(src.Reader(), crc)
	buf := make([]byte, int(min(int64(chunk), max(total, 1))))
	start, filled, eof := int64(0), 0, false // buf[:filled] holds bytes start…
	for {
		if !eof && filled < len(buf) {
			n, rerr := io.ReadFull(r, buf[filled:])
			filled += n
			switch {
			case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
				eof = true
			case rerr != nil:
				return rerr
			}
			if !eof && start+int64(filled) == total {
				// The last bytes are here (and verified): no need to wait
				// for the EOF that follows.
				eof = true
			}
		}
		if eof && start+int64(filled) != total {
			return fmt.Errorf("%w: the file has %d bytes, not %d", ErrUpload, start+int64(filled), total)
		}
		committed, obj, err := u.send(ctx, start, buf[:filled])
		if err != nil {
			return err
		}
		if obj != nil {
			done = true
			return cl.checkObject(ctx, bucket, object, obj, total, crc.Sum32())
		}
		// Keep what the server did not commit at the front of buf.
		k := int(committed - start)
		filled = copy(buf, buf[k:filled])
		start = committed
	}
}

// upload is an open resumable upload session. Its URI is a credential (it
// accepts data without other authentication): it never appears in errors
// or logs.
type upload struct {
	cl      *client
	session string
	total   int64
}

// startUpload opens a resumable upload session and returns its URI, which
// must be on the storage endpoint's host: the HTTP client sends the
// credentials to every host it is given.
func (cl *client) startUpload(ctx context.Context, bucket, object string, total int64, meta map[string]string) (string, error) {
	body, _ := json.Marshal(map[string]any{"name": object, "contentType": "application/gzip", "metadata": meta})
	u := withQuery(cl.storage.String()+"/upload/storage/v1/b/"+url.PathEscape(bucket)+"/o", "uploadType", "resumable", "name", object)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		req.Header.Set("X-Upload-Content-Type", "application/gzip")
		req.Header.Set("X-Upload-Content-Length", itoa(total))
		resp, err := cl.hc.Do(req)
		if err == nil {
			loc := resp.Header.Get("Location")
			err = decodeResponse(resp, nil)
			if err == nil {
				return loc, cl.checkSession(loc)
			}
		}
		if !cl.shouldRetry(ctx, err, attempt) {
			return "", err
		}
		if serr := cl.retry.sleep(ctx, attempt+1); serr != nil {
			return "", serr
		}
	}
}

// checkSession accepts a session URI on the storage endpoint's scheme and
// host only.
func (cl *client) checkSession(loc string) error {
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != cl.storage.Scheme || u.Host != cl.storage.Host {
		return fmt.Errorf("%w: the upload session is not on %s", ErrUpload, cl.storage.Host)
	}
	return nil
}

// shouldRetry reports whether a failed request is retried: a transient
// transport error or a retryable status, while attempts remain.
func (cl *client) shouldRetry(ctx context.Context, err error, attempt int) bool {
	if attempt+1 >= cl.retry.attempts {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return retryable(ae.StatusCode)
	}
	return transient(ctx, err)
}

// send PUTs data (the bytes from start) to the session. It returns the
// offset the server committed, or the object once the upload is complete.
// A failed request, or one of which the server committed nothing, is
// retried with backoff after asking the server what it has: the bytes it
// has are not sent again.
func (u *upload) send(ctx context.Context, start int64, data []byte) (int64, *objectMeta, error) {
	end := start + int64(len(data))
	for attempt := 0; ; attempt++ {
		committed, obj, err := u.put(ctx, start, data)
		if err == nil && obj != nil {
			return committed, obj, nil
		}
		if err == nil && (committed < start || committed > end) {
			return 0, nil, fmt.Errorf("%w: the server has %d bytes after bytes %d to %d were sent", ErrUpload, committed, start, end)
		}
		if err == nil && (committed > start || len(data) == 0) {
			return committed, nil, nil
		}
		if err == nil {
			err = &APIError{StatusCode: http.StatusServiceUnavailable, Message: "no bytes committed"}
		}
		if !u.cl.shouldRetry(ctx, err, attempt) {
			return 0, nil, err
		}
		if serr := u.cl.retry.sleep(ctx, attempt+1); serr != nil {
			return 0, nil, serr
		}
		c, o, qerr := u.query(ctx)
		switch {
		case qerr != nil && !u.cl.shouldRetry(ctx, qerr, attempt+1):
			return 0, nil, qerr
		case qerr != nil:
			continue // send it all again
		case o != nil:
			return c, o, nil
		case c < start || c > end:
			return 0, nil, fmt.Errorf("%w: after a failure the server has %d bytes, bytes %d to %d were sent", ErrUpload, c, start, end)
		case c > start:
			return c, nil, nil
		}
	}
}

// put sends one chunk: Content-Range bytes FIRST-LAST/TOTAL, the total
// telling the server which chunk is the last (bytes */TOTAL for the empty
// last chunk of a file whose bytes are all committed).
func (u *upload) put(ctx context.Context, start int64, data []byte) (int64, *objectMeta, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.session, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = int64(len(data))
	if len(data) == 0 {
		req.Body = http.NoBody
		req.Header.Set("Content-Range", "bytes */"+itoa(u.total))
	} else {
		req.Header.Set("Content-Range", "bytes "+itoa(start)+"-"+itoa(start+int64(len(data))-1)+"/"+itoa(u.total))
	}
	return u.answer(u.cl.hc.Do(req))
}

// query asks the server what it has committed (an empty PUT with
// Content-Range bytes */TOTAL): 308 and a Range, or the object if the
// upload is complete.
func (u *upload) query(ctx context.Context) (int64, *objectMeta, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.session, http.NoBody)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Range", "bytes */"+itoa(u.total))
	return u.answer(u.cl.hc.Do(req))
}

// answer reads a session's answer: 308 with the committed range, or
// 200/201 with the object.
func (u *upload) answer(resp *http.Response, err error) (int64, *objectMeta, error) {
	if err != nil {
		return 0, nil, urlerr.StripQuery(err) // the session URI is a credential
	}
	if resp.StatusCode == http.StatusPermanentRedirect {
		resp.Body.Close()
		n, err := parseRange(resp.Header.Get("Range"))
		return n, nil, err
	}
	var obj objectMeta
	if err := decodeResponse(resp, &obj); err != nil {
		return 0, nil, err
	}
	return u.total, &obj, nil
}

// parseRange returns the number of bytes a 308's Range header says the
// server committed: "bytes=0-N" is N+1, no header is none.
func parseRange(h string) (int64, error) {
	if h == "" {
		return 0, nil
	}
	first, last, ok := strings.Cut(strings.TrimPrefix(h, "bytes="), "-")
	n, err := strconv.ParseInt(last, 10, 64)
	if !strings.HasPrefix(h, "bytes=") || !ok || first != "0" || err != nil || n < 0 || n == 1<<63-1 || strings.HasPrefix(last, "+") {
		return 0, fmt.Errorf("%w: Range %q", ErrUpload, cleanMessage(h))
	}
	return n + 1, nil
}

// cancel ends the session without an object (DELETE of the session URI,
// answered 499), best effort: an unfinished session expires anyway.
func (u *upload) cancel(ctx context.Context) {
	ctx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.session, http.NoBody)
	if err != nil {
		return
	}
	if resp, err := u.cl.hc.Do(req); err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
	}
}

// checkObject compares the object the server created with what was sent;
// one that differs is deleted (that generation only).
func (cl *client) checkObject(ctx context.Context, bucket, object string, obj *objectMeta, total int64, crc uint32) error {
	if err := verifyObject(obj, object, total, crc); err != nil {
		if derr := cl.deleteGeneration(context.WithoutCancel(ctx), bucket, object, obj.Generation); derr != nil {
			return fmt.Errorf("%w (and deleting it: %v)", err, derr)
		}
		return err
	}
	return nil
}

// verifyObject checks an object's metadata: its name, size and CRC32C (the
// checksum Cloud Storage keeps for every object, composite ones included;
// the content's SHA-256 is verified on this side before the upload is
// finalized).
func verifyObject(obj *objectMeta, object string, total int64, crc uint32) error {
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], crc)
	switch {
	case obj.Name != object:
		return fmt.Errorf("%w: the server created %q", ErrUpload, cleanMessage(obj.Name))
	case obj.Size != itoa(total):
		return fmt.Errorf("%w: the object has %q bytes, %d were sent", ErrUpload, cleanMessage(obj.Size), total)
	case obj.CRC32C != base64.StdEncoding.EncodeToString(c[:]):
		return fmt.Errorf("%w: the object's CRC32C %q is not that of the bytes sent", ErrUpload, cleanMessage(obj.CRC32C))
	}
	return nil
}

// deleteObject removes an object, ignoring one that does not exist.
func deleteObject(ctx context.Context, cl *client, bucket, object string) error {
	if err := cl.deleteGeneration(ctx, bucket, object, ""); err != nil {
		return fmt.Errorf("gcp: delete gs://%s/%s: %w", bucket, object, err)
	}
	return nil
}

// deleteGeneration deletes an object (one generation of it if gen is
// set), ignoring one that does not exist.
func (cl *client) deleteGeneration(ctx context.Context, bucket, object, gen string) error {
	u := cl.objectURL(bucket, object)
	if gen != "" {
		u = withQuery(u, "generation", gen)
	}
	err := cl.do(ctx, call{method: http.MethodDelete, url: u, idempotent: true})
	if isNotFound(err) {
		return nil
	}
	return err
}
