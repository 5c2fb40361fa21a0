package nutanix

// This file is an HTTP fake of Prism Central's v3 images and tasks API,
// built from its documentation (Nutanix "Prism Central v3 API" reference:
// POST /api/nutanix/v3/images with api_version, metadata.kind "image" and
// spec.resources; PUT /api/nutanix/v3/images/{uuid}/file with an
// application/octet-stream body and the X-Nutanix-Checksum-Type/-Bytes
// headers; POST /api/nutanix/v3/images/list with a FIQL filter; DELETE
// /api/nutanix/v3/images/{uuid}; GET /api/nutanix/v3/tasks/{uuid} with
// status QUEUED/RUNNING/SUCCEEDED/FAILED; basic authentication; errors as
// {"state":"ERROR","code":N,"message_list":[{"reason","message"}]}),
// because Prism Central has no runnable peer.
//
// It checks what it receives: basic auth, content types, the body fields
// hardvm relies on (DISK_IMAGE, no source_uri, a SHA_256 checksum), and
// that an upload carries the whole file: Content-Length, the bytes read
// and the checksum headers must agree with the checksum the image was
// created with. It is not Prism: it only says whether our requests are
// well-formed by the documents. Uploaded files are kept on disk so that
// tests can check them with qemu-img.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const (
	fakeUser     = "admin"
	fakePassword = "nutanix/4u"
)

type fakeImage struct {
	name, description, checksum string
	state                       string // PENDING, COMPLETE
	size                        int64
	file                        string
}

type fakePrism struct {
	t   testing.TB
	dir string
	mu  sync.Mutex
	srv *httptest.Server
	seq int

	images  map[string]*fakeImage
	tasks   map[string]int    // uuid -> polls so far
	failed  map[string]string // task uuid -> error_detail: the task fails
	calls   map[string]int
	failOn  map[string]int // op -> status to answer with
	failCnt map[string]int // op -> how many times (0: always)
	bytesIn int64
	// failTask makes the tasks of an op (create, upload, delete) end
	// FAILED with this error_detail; the op's work is not done.
	failTask map[string]string
	// onCreate, if set, runs once an image is created (under f.mu).
	onCreate func()
}

func newFakePrism(t testing.TB) *fakePrism {
	f := &fakePrism{t: t, dir: t.TempDir(), images: map[string]*fakeImage{}, tasks: map[string]int{}, failed: map[string]string{},
		calls: map[string]int{}, failOn: map[string]int{}, failCnt: map[string]int{}, failTask: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePrism) fail(op string, status, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOn[op], f.failCnt[op] = status, times
}

func prismError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"state": "ERROR", "code": status,
		"message_list": []map[string]string{{"reason": reason, "message": msg}}})
}

// newTask starts a task of op, which fails if failTask says so.
func (f *fakePrism) newTask(op string) string {
	f.seq++
	id := fmt.Sprintf("7a5e0000-0000-4000-8000-%012d", f.seq)
	f.tasks[id] = 0
	if d := f.failTask[op]; d != "" {
		f.failed[id] = d
	}
	return id
}

var (
	imageRe = regexp.MustCompile(`^/api/nutanix/v3/images/([0-9a-f-]{36})$`)
	fileRe  = regexp.MustCompile(`^/api/nutanix/v3/images/([0-9a-f-]{36})/file$`)
	taskRe  = regexp.MustCompile(`^/api/nutanix/v3/tasks/([0-9a-f-]{36})$`)
)

func (f *fakePrism) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != fakeUser || p != fakePassword {
		f.t.Errorf("fake prism: %s %s without the right basic auth", r.Method, r.URL.Path)
		prismError(w, 401, "AUTHENTICATION_REQUIRED", "bad credentials")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	op := ""
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/nutanix/v3/images":
		op = "create"
	case r.Method == http.MethodPost && r.URL.Path == "/api/nutanix/v3/images/list":
		op = "list"
	case r.Method == http.MethodPut && fileRe.MatchString(r.URL.Path):
		op = "upload"
	case r.Method == http.MethodDelete && imageRe.MatchString(r.URL.Path):
		op = "delete"
	case r.Method == http.MethodGet && taskRe.MatchString(r.URL.Path):
		op = "task"
	default:
		prismError(w, 404, "ENTITY_NOT_FOUND", "no route "+r.Method+" "+r.URL.Path)
		return
	}
	f.calls[op]++
	if st := f.failOn[op]; st != 0 {
		if n := f.failCnt[op]; n > 0 { // times > 0: that many; else always
			if n == 1 {
				delete(f.failOn, op)
			}
			f.failCnt[op] = n - 1
		}
		io.Copy(io.Discard, r.Body)
		prismError(w, st, "INTERNAL_ERROR", "injected failure of "+op)
		return
	}
	if op != "task" && op != "delete" && !strings.HasPrefix(r.Header.Get("Content-Type"), map[bool]string{true: "application/octet-stream", false: "application/json"}[op == "upload"]) {
		f.t.Errorf("fake prism: %s with Content-Type %q", op, r.Header.Get("Content-Type"))
		prismError(w, 415, "INVALID_REQUEST", "content type")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch op {
	case "create":
		var in struct {
			APIVersion string                `json:"api_version"`
			Metadata   struct{ Kind string } `json:"metadata"`
			Spec       struct {
				Name        string         `json:"name"`
				Description string         `json:"description"`
				Resources   map[string]any `json:"resources"`
			} `json:"spec"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			prismError(w, 422, "INVALID_REQUEST", err.Error())
			return
		}
		cs, _ := in.Spec.Resources["checksum"].(map[string]any)
		val, _ := cs["checksum_value"].(string)
		msg := ""
		switch {
		case !strings.HasPrefix(in.APIVersion, "3."):
			msg = "api_version " + in.APIVersion
		case in.Metadata.Kind != "image":
			msg = "metadata.kind " + in.Metadata.Kind
		case in.Spec.Name == "":
			msg = "spec.name is required"
		case in.Spec.Resources["image_type"] != "DISK_IMAGE":
			msg = fmt.Sprintf("image_type %v", in.Spec.Resources["image_type"])
		case in.Spec.Resources["source_uri"] != nil:
			msg = "source_uri given for an uploaded image"
		case cs["checksum_algorithm"] != "SHA_256" || len(val) != 64:
			msg = fmt.Sprintf("checksum %v", cs)
		}
		if msg != "" {
			f.t.Errorf("fake prism: create: %s", msg)
			prismError(w, 422, "INVALID_REQUEST", msg)
			return
		}
		f.seq++
		uuid := fmt.Sprintf("1a9e0000-0000-4000-8000-%012d", f.seq)
		f.images[uuid] = &fakeImage{name: in.Spec.Name, description: in.Spec.Description, checksum: val, state: "PENDING"}
		if f.onCreate != nil {
			f.onCreate()
		}
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{
			"metadata": map[string]any{"kind": "image", "uuid": uuid},
			"spec":     in.Spec,
			"status":   map[string]any{"state": "PENDING", "execution_context": map[string]any{"task_uuid": f.newTask("create")}},
		})
	case "list":
		var in struct{ Kind, Filter string }
		json.NewDecoder(r.Body).Decode(&in)
		var ents []map[string]any
		for uuid, img := range f.images {
			if in.Filter == "" || in.Filter == "name=="+img.name {
				ents = append(ents, map[string]any{
					"metadata": map[string]any{"uuid": uuid, "kind": "image"},
					"spec":     map[string]any{"name": img.name, "description": img.description},
					"status":   map[string]any{"state": img.state},
				})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"api_version": "3.1", "entities": ents, "metadata": map[string]any{"total_matches": len(ents), "kind": "image"}})
	case "upload":
		uuid := fileRe.FindStringSubmatch(r.URL.Path)[1]
		img := f.images[uuid]
		if img == nil {
			prismError(w, 404, "ENTITY_NOT_FOUND", "image "+uuid)
			return
		}
		if r.Header.Get("X-Nutanix-Checksum-Type") != "SHA_256" || r.Header.Get("X-Nutanix-Checksum-Bytes") != img.checksum {
			f.t.Errorf("fake prism: upload checksum headers %q %q, image checksum %s", r.Header.Get("X-Nutanix-Checksum-Type"), r.Header.Get("X-Nutanix-Checksum-Bytes"), img.checksum)
		}
		p := filepath.Join(f.dir, uuid)
		out, err := os.Create(p)
		if err != nil {
			f.t.Error(err)
			return
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(out, h), r.Body)
		out.Close()
		f.bytesIn += n
		switch {
		case err != nil:
			prismError(w, 400, "INVALID_REQUEST", err.Error())
			return
		case r.ContentLength != n:
			f.t.Errorf("fake prism: upload of %d bytes, Content-Length %d", n, r.ContentLength)
			prismError(w, 400, "INVALID_REQUEST", "short upload")
			return
		case hex.EncodeToString(h.Sum(nil)) != img.checksum:
			prismError(w, 422, "CHECKSUM_MISMATCH", "the uploaded file does not have the image's checksum")
			return
		}
		img.size, img.file, img.state = n, p, "COMPLETE"
		task := f.newTask("upload")
		if f.failed[task] != "" {
			img.state = "ERROR"
		}
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"status": map[string]any{"execution_context": map[string]any{"task_uuid": task}}})
	case "delete":
		uuid := imageRe.FindStringSubmatch(r.URL.Path)[1]
		if f.images[uuid] == nil {
			prismError(w, 404, "ENTITY_NOT_FOUND", "image "+uuid)
			return
		}
		task := f.newTask("delete")
		if f.failed[task] == "" {
			delete(f.images, uuid)
		}
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"status": map[string]any{"state": "DELETE_PENDING", "execution_context": map[string]any{"task_uuid": task}}})
	case "task":
		id := taskRe.FindStringSubmatch(r.URL.Path)[1]
		n, ok := f.tasks[id]
		if !ok {
			prismError(w, 404, "ENTITY_NOT_FOUND", "task "+id)
			return
		}
		f.tasks[id] = n + 1
		st, detail := "RUNNING", ""
		if n >= 1 {
			st = "SUCCEEDED"
			if detail = f.failed[id]; detail != "" {
				st = "FAILED"
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"uuid": id, "status": st, "percentage_complete": min(100, 50*(n+1)), "error_detail": detail})
	}
}
