package azure

// This file is an HTTP fake of the Azure Resource Manager API of Compute
// Galleries, built from its documentation because ARM has no runnable
// peer: the REST reference of Gallery Images and Gallery Image Versions
// (Create Or Update = PUT, Update = PATCH, Delete = DELETE, Get = GET on
// /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/
// galleries/{g}/images/{i}[/versions/{v}]?api-version=2025-03-03) and the
// long-running operation protocol of ARM ("Azure-AsyncOperation" header on
// 201/202, a status resource answering {"status":"InProgress"} then
// "Succeeded" or "Failed" with an error, then a GET of the resource).
//
// It checks what it receives: the api-version, a bearer token in the
// Authorization header, the JSON body fields hardvm relies on (Linux,
// generalized, Hyper-V V2, the TrustedLaunchSupported security type, the
// blob source with its storage account id, target regions including the
// image's location, the hardvm tags). The source blob of a version is
// looked up in the storage peer (Azurite, through blob): it must exist in
// the account storageAccountId names, be a page blob of whole 512-byte
// pages, and end with a fixed VHD's footer. A PATCH may only carry what
// the Update operation documents (tags, and the publishing profile's
// excludeFromLatest, endOfLifeDate, targetRegions); like ARM, its tags
// replace the resource's tags, and the storage profile cannot change.
// failOn["METHOD kind"] makes the operation of a PUT, PATCH or DELETE end
// "Failed" (a PUT leaves the resource Failed, a PATCH or DELETE leaves it
// as it was). It is not ARM: it only says whether our requests are
// well-formed by the documents.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

const (
	fakeToken  = "hardvm-test-token"
	apiVersion = "2025-03-03"
)

// staticToken is an azcore.TokenCredential handing out one token.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: fakeToken, ExpiresOn: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

type fakeOp struct {
	polls  int
	fail   string // error code when the operation fails
	finish func()
}

type fakeARM struct {
	t   testing.TB
	mu  sync.Mutex
	srv *httptest.Server
	seq int

	resources map[string]map[string]any // lower-case path -> resource JSON
	ops       map[string]*fakeOp
	calls     map[string]int // "METHOD kind" -> count
	failOn    map[string]string
	// blob checks a version's source blob in the storage peer.
	blob func(uri, storageAccountID string) error
}

var resRe = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+(/versions/[0-9]+\.[0-9]+\.[0-9]+)?$`)

func newFakeARM(t testing.TB) *fakeARM {
	f := &fakeARM{t: t, resources: map[string]map[string]any{}, ops: map[string]*fakeOp{}, calls: map[string]int{}, failOn: map[string]string{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// options returns ARM client options that reach the fake.
func (f *fakeARM) options() *arm.ClientOptions {
	return &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{
				ActiveDirectoryAuthorityHost: f.srv.URL + "/",
				Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
					cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: f.srv.URL},
				},
			},
			Transport: f.srv.Client(),
			Retry:     policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond},
		},
		DisableRPRegistration: true,
	}
}

func (f *fakeARM) armError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (f *fakeARM) serve(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("Authorization"); got != "Bearer "+fakeToken {
		f.t.Errorf("fake arm: %s %s with Authorization %q", r.Method, r.URL.Path, got)
		f.armError(w, 401, "AuthenticationFailed", "no bearer token")
		return
	}
	if v := r.URL.Query().Get("api-version"); v != apiVersion {
		f.t.Errorf("fake arm: %s %s with api-version %q", r.Method, r.URL.Path, v)
		f.armError(w, 400, "InvalidApiVersionParameter", "api-version "+v)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/operations/") {
		f.serveOp(w, r)
		return
	}
	if !resRe.MatchString(r.URL.Path) {
		f.armError(w, 404, "InvalidResourceType", "unknown path "+r.URL.Path)
		return
	}
	key := strings.ToLower(r.URL.Path)
	kind := "image"
	if strings.Contains(key, "/versions/") {
		kind = "version"
	}
	f.calls[r.Method+" "+kind]++
	switch r.Method {
	case http.MethodGet:
		res, ok := f.resources[key]
		if !ok {
			f.armError(w, 404, "ResourceNotFound", "The Resource '"+r.URL.Path+"' was not found.")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
	case http.MethodPut, http.MethodPatch:
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.armError(w, 400, "InvalidRequestContent", err.Error())
			return
		}
		old, exists := f.resources[key]
		if r.Method == http.MethodPatch {
			if !exists {
				f.armError(w, 404, "ResourceNotFound", "no "+r.URL.Path)
				return
			}
			if msg := checkPatch(kind, body); msg != "" {
				f.t.Errorf("fake arm: PATCH %s: %s", kind, msg)
				f.armError(w, 400, "InvalidParameter", msg)
				return
			}
			patched := merge(old, map[string]any{"properties": body["properties"]})
			if tags, ok := body["tags"]; ok {
				patched["tags"] = tags // ARM replaces the tags whole
			}
			body = patched
		} else if msg := f.check(kind, key, body); msg != "" {
			f.t.Errorf("fake arm: PUT %s: %s", kind, msg)
			f.armError(w, 400, "InvalidParameter", msg)
			return
		} else if kind == "version" {
			src, _ := body["properties"].(map[string]any)["storageProfile"].(map[string]any)["osDiskImage"].(map[string]any)["source"].(map[string]any)
			uri, _ := src["uri"].(string)
			acct, _ := src["storageAccountId"].(string)
			if f.blob == nil {
				f.t.Errorf("fake arm: no storage peer to look the source blob up in")
			} else if err := f.blob(uri, acct); err != nil {
				f.armError(w, 400, "InvalidParameter", "source blob "+uri+": "+err.Error())
				return
			}
		}
		body["id"] = r.URL.Path
		body["name"] = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		props, _ := body["properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
			body["properties"] = props
		}
		props["provisioningState"] = "Creating"
		if r.Method == http.MethodPatch {
			props["provisioningState"] = "Updating"
		}
		f.resources[key] = body
		fail := f.failOn[r.Method+" "+kind]
		status := http.StatusCreated // PUT: 201 Created while provisioning
		if r.Method == http.MethodPatch {
			status = http.StatusOK // PATCH: 200 OK, then the operation
		}
		f.startOp(w, &fakeOp{fail: fail, finish: func() {
			switch {
			case fail != "" && r.Method == http.MethodPatch:
				f.resources[key] = old // a failed update changes nothing
			case fail != "":
				props["provisioningState"] = "Failed"
			default:
				props["provisioningState"] = "Succeeded"
			}
		}}, status, body)
	case http.MethodDelete:
		if _, ok := f.resources[key]; !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if kind == "image" {
			for k := range f.resources {
				if strings.HasPrefix(k, key+"/versions/") {
					f.armError(w, 409, "CannotDeleteResource", "the image has versions")
					return
				}
			}
		}
		fail := f.failOn["DELETE "+kind]
		f.startOp(w, &fakeOp{fail: fail, finish: func() {
			if fail == "" {
				delete(f.resources, key)
			}
		}}, http.StatusAccepted, nil)
	default:
		f.armError(w, 405, "MethodNotAllowed", r.Method)
	}
}

// checkPatch returns what is wrong with a PATCH body (of the documented
// GalleryImageVersionUpdate), or "".
func checkPatch(kind string, b map[string]any) string {
	if kind != "version" {
		return "hardvm updates only image versions"
	}
	for k := range b {
		if k != "tags" && k != "properties" {
			return "field " + k + " cannot be updated"
		}
	}
	if tags, ok := b["tags"]; ok {
		m, ok := tags.(map[string]any)
		if !ok {
			return "tags is not an object"
		}
		for k, v := range m {
			if _, ok := v.(string); !ok {
				return "tag " + k + " is not a string"
			}
		}
	}
	props, _ := b["properties"].(map[string]any)
	for k := range props {
		if k != "publishingProfile" {
			return "properties." + k + " cannot be updated (the storage profile of a version is fixed)"
		}
	}
	pub, _ := props["publishingProfile"].(map[string]any)
	for k, v := range pub {
		switch k {
		case "excludeFromLatest":
			if _, ok := v.(bool); !ok {
				return "excludeFromLatest is not a boolean"
			}
		case "endOfLifeDate":
			s, _ := v.(string)
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return "endOfLifeDate " + fmt.Sprint(v) + " is not a date-time"
			}
		case "targetRegions":
			if _, ok := v.([]any); !ok {
				return "targetRegions is not a list"
			}
		default:
			return "publishingProfile." + k + " cannot be updated by hardvm"
		}
	}
	return ""
}

// check returns what is wrong with a PUT body, or "".
func (f *fakeARM) check(kind, key string, b map[string]any) string {
	get := func(path string) any {
		var v any = b
		for _, p := range strings.Split(path, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		}
		return v
	}
	if s, _ := get("location").(string); s == "" {
		return "location is required"
	}
	if kind == "image" {
		for path, want := range map[string]string{
			"properties.osType": "Linux", "properties.osState": "Generalized", "properties.hyperVGeneration": "V2",
		} {
			if get(path) != want {
				return fmt.Sprintf("%s = %v, hardvm images need %s", path, get(path), want)
			}
		}
		for _, p := range []string{"properties.identifier.publisher", "properties.identifier.offer", "properties.identifier.sku", "properties.architecture"} {
			if s, _ := get(p).(string); s == "" {
				return p + " is required"
			}
		}
		feats, _ := get("properties.features").([]any)
		ok := false
		for _, x := range feats {
			m, _ := x.(map[string]any)
			ok = ok || m["name"] == "SecurityType" && m["value"] == SecurityType
		}
		if !ok {
			return "features lack SecurityType=" + SecurityType
		}
		return ""
	}
	parent := key[:strings.Index(key, "/versions/")]
	if _, ok := f.resources[parent]; !ok {
		return "the gallery image definition does not exist"
	}
	if u, _ := get("properties.storageProfile.osDiskImage.source.uri").(string); !strings.HasSuffix(u, ".vhd") {
		return "osDiskImage.source.uri is not a .vhd blob: " + u
	}
	if s, _ := get("properties.storageProfile.osDiskImage.source.storageAccountId").(string); !strings.Contains(strings.ToLower(s), "/providers/microsoft.storage/storageaccounts/") {
		return "osDiskImage.source.storageAccountId is not a storage account id: " + s
	}
	if _, ok := get("properties.publishingProfile.excludeFromLatest").(bool); !ok {
		return "publishingProfile.excludeFromLatest is not set"
	}
	regions, _ := get("properties.publishingProfile.targetRegions").([]any)
	found := false
	for _, r := range regions {
		m, _ := r.(map[string]any)
		found = found || m["name"] == get("location")
	}
	if !found {
		return "targetRegions lack the image's location"
	}
	for _, tag := range []string{TagRef, TagDigest} {
		if s, _ := get("tags." + tag).(string); s == "" {
			return "tag " + tag + " missing"
		}
	}
	return ""
}

func (f *fakeARM) startOp(w http.ResponseWriter, op *fakeOp, status int, body map[string]any) {
	f.seq++
	id := fmt.Sprintf("op%d", f.seq)
	f.ops[id] = op
	w.Header().Set("Azure-AsyncOperation", f.srv.URL+"/operations/"+id+"?api-version="+apiVersion)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		json.NewEncoder(w).Encode(body)
	}
}

func (f *fakeARM) serveOp(w http.ResponseWriter, r *http.Request) {
	op := f.ops[strings.TrimPrefix(r.URL.Path, "/operations/")]
	if op == nil {
		f.armError(w, 404, "NotFound", "no operation")
		return
	}
	f.calls["GET operation"]++
	op.polls++
	w.Header().Set("Content-Type", "application/json")
	switch {
	case op.polls < 2:
		json.NewEncoder(w).Encode(map[string]string{"status": "InProgress"})
	case op.fail != "":
		f.calls["failed operation"]++
		if op.finish != nil {
			op.finish()
			op.finish = nil
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "Failed", "error": map[string]string{"code": op.fail, "message": "injected failure"}})
	default:
		if op.finish != nil {
			op.finish()
			op.finish = nil
		}
		json.NewEncoder(w).Encode(map[string]string{"status": "Succeeded"})
	}
}

// merge applies a JSON merge patch (RFC 7396), as ARM PATCH does.
func merge(old, patch map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range old {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if om, ok := out[k].(map[string]any); ok {
				out[k] = merge(om, pm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
