package gcp

// This file is an HTTP fake of the Compute Engine images API, built from its
// documented REST wire format (compute/v1: images.insert, images.get,
// images.delete, images.deprecate, images.getIamPolicy/setIamPolicy,
// globalOperations.get), because the Compute API has no runnable peer.
// Cloud Storage is NOT faked: tests use fake-gcs-server, a real server.
//
// It checks what it receives: a bearer token, the guest OS features and
// architecture hardvm images need, a rawDisk.source that names an object
// which exists in the storage peer (it asks the peer), label syntax, and
// deprecation fields. Operations complete on the second poll, so callers
// must poll.

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

	compute "google.golang.org/api/compute/v1"
)

type fakeCompute struct {
	t       testing.TB
	mu      sync.Mutex
	srv     *httptest.Server
	objects func(bucket, object string) bool // asks the storage peer
	images  map[string]*compute.Image
	ops     map[string]*compute.Operation
	polls   map[string]int
	policy  map[string]*compute.Policy
	failOn  map[string]string // method -> error message
	seq     int
}

var labelRe = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)

func newFakeCompute(t testing.TB, objects func(bucket, object string) bool) *fakeCompute {
	f := &fakeCompute{t: t, objects: objects, images: map[string]*compute.Image{}, ops: map[string]*compute.Operation{},
		polls: map[string]int{}, policy: map[string]*compute.Policy{}, failOn: map[string]string{}}
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
	if errMsg != "" {
		op.Error = &compute.OperationError{Errors: []*compute.OperationErrorErrors{{Code: "RESOURCE_OPERATION_FAILED", Message: errMsg}}}
	}
	f.ops[op.Name] = op
	return op
}

var pathRe = regexp.MustCompile(`^/compute/v1/projects/([a-z][-a-z0-9]*)/global/(images|operations)(?:/([^/]+))?(?:/(deprecate|getIamPolicy|setIamPolicy))?$`)

func (f *fakeCompute) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		f.t.Errorf("fake compute: %s %s without a bearer token", r.Method, r.URL.Path)
		apiError(w, 401, "Request is missing required authentication credential")
		return
	}
	m := pathRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		apiError(w, 404, "unknown path "+r.URL.Path)
		return
	}
	coll, name, verb := m[2], m[3], m[4]
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	method := r.Method + " " + coll
	if verb != "" {
		method += "/" + verb
	}
	if msg := f.failOn[method]; msg != "" {
		apiError(w, 500, msg)
		return
	}
	switch {
	case coll == "operations" && r.Method == http.MethodGet:
		op := f.ops[name]
		if op == nil {
			apiError(w, 404, "operation not found")
			return
		}
		if f.polls[name]++; f.polls[name] >= 1 {
			op.Status = "DONE"
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
		delete(f.images, name)
		reply(f.op("delete", "", ""))
	case verb == "deprecate":
		img := f.images[name]
		if img == nil {
			apiError(w, 404, "not found")
			return
		}
		var st compute.DeprecationStatus
		json.NewDecoder(r.Body).Decode(&st)
		if st.State != "DEPRECATED" && st.State != "OBSOLETE" && st.State != "DELETED" && st.State != "ACTIVE" {
			apiError(w, 400, "bad state "+st.State)
			return
		}
		img.Deprecated = &st
		reply(f.op("deprecate", img.SelfLink, ""))
	case verb == "getIamPolicy":
		p := f.policy[name]
		if p == nil {
			p = &compute.Policy{Etag: "BwE="}
		}
		reply(p)
	case verb == "setIamPolicy":
		var req compute.GlobalSetPolicyRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.Policy == nil {
			apiError(w, 400, "policy required")
			return
		}
		f.policy[name] = req.Policy
		reply(req.Policy)
	default:
		apiError(w, 405, "unsupported "+r.Method+" "+r.URL.Path)
	}
}
