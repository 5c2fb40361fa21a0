package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	digest "github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/catalog"
)

// download serves a file an entry records: an artifact by its name, an
// attachment by its kind. The URL names the entry and the file; the bytes
// come from [Files] by digest, and are hashed as they are sent: the last
// chunk is held back until the digest is checked, so a client never gets
// a complete file whose digest is wrong (the connection is cut short
// instead, which Content-Length lets it see).
func (h *Handler) download(w http.ResponseWriter, r *http.Request) {
	ref, err := refOf(r, true)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, err)
		return
	}
	s, err := h.snapshot(r.Context())
	if err != nil {
		h.fail(w, r, statusOf(err), err)
		return
	}
	v, ok := s.version(ref)
	if !ok {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("%w: %s", catalog.ErrNotFound, ref))
		return
	}
	name := r.PathValue("name")
	var d digest.Digest
	var file, mt string
	var size int64
	if a, ok := findArtifact(&v.e, name); ok {
		d, size, file = a.Digest, a.Size, a.Name
	} else if a, ok := v.e.Attachment(catalog.AttachmentKind(name)); ok {
		d, size, file, mt = a.Digest, a.Size, attachmentName(a.Kind), a.MediaType
	} else {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("%w: %s records no file %q", catalog.ErrNotFound, ref, name))
		return
	}
	if h.files == nil {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("%w: the server has no file source", ErrUnavailable))
		return
	}
	rc, err := h.files.Open(r.Context(), d, size)
	if err != nil {
		h.fail(w, r, statusOf(err), err)
		return
	}
	defer rc.Close()
	hd := w.Header()
	hd.Set("Content-Type", safeMediaType(mt))
	hd.Set("Content-Length", strconv.FormatInt(size, 10))
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": file}))

	hd.Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	if err := copyVerified(w, rc, d, size); err != nil {
		h.o.log.Warn("web: download cut short", "ref", ref.String(), "file", file, "err", err)
		panic(http.ErrAbortHandler) // the response is half sent: cut the connection
	}
}

// safeMediaType returns mt if it is one of the media types hardvm's
// attachments have, else application/octet-stream: a catalog cannot make
// the server send text/html.
func safeMediaType(mt string) string {
	for _, k := range catalog.AttachmentKinds() {
		if mt == k.DefaultMediaType() {
			return mt
		}
	}
	return "application/octet-stream"
}

func findArtifact(e *catalog.Entry, name string) (catalog.Artifact, bool) {
	for _, a := range e.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return catalog.Artifact{}, false
}

// copyVerified copies exactly size bytes of r to w, holding the last chunk
// back until their digest is known to be digest.
func copyVerified(w io.Writer, r io.Reader, want digest.Digest, size int64) error {
	h := sha256.New()
	bufs := [2][]byte{make([]byte, 256<<10), make([]byte, 256<<10)}
	var pending []byte
	var n int64
	lr := io.LimitReader(r, size+1)
	for i := 0; ; i ^= 1 {
		k, err := io.ReadFull(lr, bufs[i])
		chunk := bufs[i][:k]
		h.Write(chunk)
		n += int64(k)
		if n > size {
			return fmt.Errorf("%w: more than the recorded %d bytes", ErrDigest, size)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if n != size {
				return &DigestError{What: "download", Want: want, Size: n}
			}
			if got := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))); got != want {
				return &DigestError{What: "download", Want: want, Got: got, Size: n}
			}
			if _, err := w.Write(pending); err != nil {
				return err
			}
			_, err := w.Write(chunk)
			return err
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(pending); err != nil {
			return err
		}
		pending = chunk
	}
}
