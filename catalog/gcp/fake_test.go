package gcp

// This file is an HTTP fake of the Compute Engine images API, built from its
// documented REST wire format (compute/v1: images.insert, images.get,
// images.delete, images.deprecate, images.getIamPolicy/setIamPolicy,
// globalOperations.get), because the Compute API has no runnable peer.
// Cloud Storage is NOT faked: tests use fake-gcs-server, a real server.
//
// It checks what it receives: the bearer token the tests' clients carry
// (fakeToken), each route's HTTP method (images.deprecate and
// images.setIamPolicy are POSTs, images.getIamPolicy a GET), the guest OS
// features and architecture hardvm images need, a rawDisk.source that
// names an object which exists in the storage peer (it asks the peer),
// label syntax, deprecation fields, and an IAM policy's etag. Operations
// are RUNNING when returned and on the first poll, DONE on the second, so
// callers must poll. failOp makes an operation of a kind end DONE with an
// error, as a real one fails (an insert leaves the image FAILED), so that
// tests can check what the registrar does then.
//
// Mutations that return an operation (images.insert, images.delete,
// images.deprecate) must carry a requestId, a UUID: as the API documents,
// a request repeating one gets the operation of the first instead of
// running again. lose makes the fake run a request and answer 503 (a
// lost answer), so that tests can check that the client retries it with
// the same requestId.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	compute "google.golang.org/api/compute/v1"
)

type fakeCompute struct {
	t       testing.TB
	mu      sync.Mutex
	srv     *httptest.Server
	objects func(bucket, object string) bool // asks the storage peer
	images  map[string]*compute.Image
	ops     map[string]*compute.Operation
	opErr   map[string]*compute.OperationError // set on the operation once DONE
	polls   map[string]int
	policy  map[string]*compute.Policy
	failOn  map[string]string // method -> error message
	failOp  map[string]string // operation type (insert, delete, deprecate) -> error message
	lose    map[string]int    // method -> how many answers to replace by a 503
	reqIDs  map[string]*compute.Operation
	seq     int
}

// fakeToken is the OAuth access token the tests' clients send.
const fakeToken = "test-token"

var (
	labelRe = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	uuidRe  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

func newFakeCompute(t testing.TB, objects func(bucket, object string) bool) *fakeCompute {
	f := &fakeCompute{t: t, objects: objects, images: map[string]*compute.Image{}, ops: map[string]*compute.Operation{}, opErr: map[string]*compute.OperationError{},
		polls: map[string]int{}, policy: map[string]*compute.Policy{}, failOn: map[string]string{}, failOp: map[string]string{},
		lose: map[string]int{}, reqIDs: map[string]*compute.Operation{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "errors": []map[string]string{{"message": msg, "reason": http.StatusText(code)}}}})
}

func (f *fakeCompute) op(kind, target string, errMsg string) *compute.Operation {
	f.seq++
	op := &compute.Operation{Kind: "compute#operation", Name: fmt.Sprintf("operation-%d", f.seq), OperationType: kind, TargetLink: target, Status: "RUNNING"}
	if errMsg == "" {
		errMsg = f.failOp[kind]
	}
	if errMsg != "" {
		f.opErr[op.Name] = &compute.OperationError{Errors: []*compute.OperationErrorErrors{{Code: "RESOURCE_OPERATION_FAILED", Message: errMsg}}}
	}
	f.ops[op.Name] = op
	// The answer is a copy: the operation changes only when polled.
	c := *op
	return &c
}

var pathRe = regexp.MustCompile(`^/compute/v1/projects/([a-z][-a-z0-9]*)/global/(images|operations)(?:/([^/]+))?(?:/(deprecate|getIamPolicy|setIamPolicy))?$`)

func (f *fakeCompute) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+fakeToken {
		f.t.Errorf("fake compute: %s %s without the bearer token (Authorization %q)", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		apiError(w, 401, "Request had invalid authentication credentials")
		return
	}
	m := pathRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		apiError(w, 404, "unknown path "+r.URL.Path)
		return
	}
	coll, name, verb := m[2], m[3], m[4]
	// The documented method of each route (compute/v1 reference).
	want := map[string]string{"deprecate": http.MethodPost, "getIamPolicy": http.MethodGet, "setIamPolicy": http.MethodPost}[verb]
	switch {
	case coll == "operations":
		want = http.MethodGet
	case verb == "" && name == "":
		want = http.MethodPost // images.insert (images.list is not used)
	case verb == "" && r.Method != http.MethodDelete:
		want = http.MethodGet
	case verb == "":
		want = http.MethodDelete
	}
	if r.Method != want {
		f.t.Errorf("fake compute: %s %s, the API wants %s", r.Method, r.URL.Path, want)
		apiError(w, 405, "method "+r.Method+" not allowed on "+r.URL.Path+"; want "+want)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	method := r.Method + " " + coll
	if verb != "" {
		method += "/" + verb
	}
	reply := func(v any) {
		if f.lose[method] > 0 {
			f.lose[method]--
			apiError(w, 503, "injected: the answer was lost")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	if msg := f.failOn[method]; msg != "" {
		apiError(w, 500, msg)
		return
	}
	if coll == "images" && (r.Method == http.MethodDelete || r.Method == http.MethodPost && (name == "" || verb == "deprecate")) {
		id := r.URL.Query().Get("requestId")
		if !uuidRe.MatchString(id) || id == "00000000-0000-0000-0000-000000000000" {
			f.t.Errorf("fake compute: %s %s with requestId %q, not a UUID", r.Method, r.URL.Path, id)
			apiError(w, 400, "requestId must be a UUID")
			return
		}
		if op := f.reqIDs[id]; op != nil {
			c := *op
			reply(&c) // the first request's operation, not run again
			return
		}
		before := f.seq
		defer func() {
			if op := f.ops[fmt.Sprintf("operation-%d", f.seq)]; f.seq != before && op != nil {
				f.reqIDs[id] = op
			}
		}()
	}
	switch {
	case coll == "operations" && r.Method == http.MethodGet:
		op := f.ops[name]
		if op == nil {
			apiError(w, 404, "operation not found")
			return
		}
		if f.polls[name]++; f.polls[name] >= 2 {
			op.Status, op.Error = "DONE", f.opErr[name]
		}
		reply(op)
	case coll == "images" && name == "" && r.Method == http.MethodPost:
		var img compute.Image
		if err := json.NewDecoder(r.Body).Decode(&img); err != nil {
			apiError(w, 400, "bad JSON: "+err.Error())
			return
		}
		if img.Name == "" || img.RawDisk == nil || img.RawDisk.Source == "" {
			apiError(w, 400, "name and rawDisk.source are required")
			return
		}
		if img.Architecture != "X86_64" && img.Architecture != "ARM64" {
			apiError(w, 400, "architecture must be X86_64 or ARM64, got "+img.Architecture)
			return
		}
		var feats []string
		for _, g := range img.GuestOsFeatures {
			feats = append(feats, g.Type)
		}
		if !slices.Contains(feats, "UEFI_COMPATIBLE") {
			apiError(w, 400, "hardvm images boot with UEFI: guestOsFeatures lacks UEFI_COMPATIBLE")
			return
		}
		for k, v := range img.Labels {
			if !labelRe.MatchString(k) || !labelRe.MatchString(v) {
				apiError(w, 400, fmt.Sprintf("invalid label %q=%q", k, v))
				return
			}
		}
		if _, dup := f.images[img.Name]; dup {
			apiError(w, 409, "The resource 'projects/p/global/images/"+img.Name+"' already exists")
			return
		}
		bucket, object, ok := strings.Cut(strings.TrimPrefix(img.RawDisk.Source, "https://storage.googleapis.com/"), "/")
		errMsg := ""
		if !ok || !f.objects(bucket, object) {
			errMsg = "The resource '" + img.RawDisk.Source + "' of type 'storage object' was not found"
		} else {
			img.Status = "READY"
			if f.failOp["insert"] != "" {
				img.Status = "FAILED" // what a failed insert leaves
			}
			img.SelfLink = f.srv.URL + r.URL.Path + "/" + img.Name
			f.images[img.Name] = &img
		}
		reply(f.op("insert", img.SelfLink, errMsg))
	case coll == "images" && r.Method == http.MethodGet && verb == "":
		img := f.images[name]
		if img == nil {
			apiError(w, 404, "The resource 'projects/p/global/images/"+name+"' was not found")
			return
		}
		reply(img)
	case coll == "images" && r.Method == http.MethodDelete:
		if f.images[name] == nil {
			apiError(w, 404, "not found")
			return
		}
		op := f.op("delete", "", "")
		if f.opErr[op.Name] == nil {
			delete(f.images, name)
		}
		reply(op)
	case verb == "deprecate":
		img := f.images[name]
		if img == nil {
			apiError(w, 404, "not found")
			return
		}
		var st compute.DeprecationStatus
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
			apiError(w, 400, "bad JSON: "+err.Error())
			return
		}
		if st.State != "DEPRECATED" && st.State != "OBSOLETE" && st.State != "DELETED" && st.State != "ACTIVE" {
			apiError(w, 400, "bad state "+st.State)
			return
		}
		for _, ts := range []string{st.Deprecated, st.Obsolete, st.Deleted} {
			if _, err := time.Parse(time.RFC3339, ts); ts != "" && err != nil {
				apiError(w, 400, "timestamp "+ts+" is not RFC 3339")
				return
			}
		}
		if st.Replacement != "" && !strings.Contains(st.Replacement, "/global/images/") {
			apiError(w, 400, "replacement "+st.Replacement+" is not an image URL")
			return
		}
		op := f.op("deprecate", img.SelfLink, "")
		if f.opErr[op.Name] == nil {
			img.Deprecated = &st
		}
		reply(op)
	case verb == "getIamPolicy":
		if f.images[name] == nil {
			apiError(w, 404, "not found")
			return
		}
		p := f.policy[name]
		if p == nil {
			p = &compute.Policy{Etag: "BwE="}
		}
		reply(p)
	case verb == "setIamPolicy":
		var req compute.GlobalSetPolicyRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Policy == nil {
			apiError(w, 400, fmt.Sprintf("policy required (%v)", err))
			return
		}
		if f.images[name] == nil {
			apiError(w, 404, "not found")
			return
		}
		// The etag read by getIamPolicy guards against lost updates.
		cur := "BwE="
		if p := f.policy[name]; p != nil {
			cur = p.Etag
		}
		if req.Policy.Etag != cur {
			apiError(w, 409, "etag "+req.Policy.Etag+" is stale (current "+cur+")")
			return
		}
		f.seq++
		req.Policy.Etag = fmt.Sprintf("BwE%d=", f.seq)
		f.policy[name] = req.Policy
		reply(req.Policy)
	default:
		apiError(w, 405, "unsupported "+r.Method+" "+r.URL.Path)
	}
}
