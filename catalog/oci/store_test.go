package oci_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/catalog/oci"
	"github.com/hardvm/hardvm/internal/testtool"
)

func newStore(t testing.TB, repo string, opts ...oci.Option) *oci.Store {
	t.Helper()
	// One try: tests of faults want the failure, not retries.
	s, err := oci.New(repo, append([]oci.Option{oci.WithInsecure(), oci.WithRemoteOptions(remote.WithRetryBackoff(remote.Backoff{Steps: 1}))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func registries(t *testing.T) map[string]string {
	return map[string]string{"docker-registry": dockerRegistry(t), "ggcr": ggcrRegistry(t)}
}

func TestStoreConformance(t *testing.T) {
	// With the retries a store has by default: docker-registry answers 500
	// to a HEAD of a blob another writer is linking (the kit's concurrent
	// writers push the same config blob), which go-containerregistry
	// retries.
	retry := oci.WithRemoteOptions(remote.WithRetryBackoff(remote.Backoff{Duration: 20 * time.Millisecond, Factor: 2, Steps: 4}))
	for kind, host := range registries(t) {
		t.Run(kind, func(t *testing.T) {
			catalogtest.RunStore(t, func(t *testing.T) catalog.Store { return newStore(t, repo(host), retry) })
		})
	}
}

func TestTag(t *testing.T) {
	for _, st := range []string{"base+fips/aws/x86_64/lts", "host/qemu/aarch64/stable", "nginx/gcp/x86_64/stable"} {
		r := catalogtest.NewEntry(st, 7, 0).Ref
		tag := oci.Tag(r)
		if _, err := name.NewTag("example.com/x:"+tag, name.StrictValidation); err != nil {
			t.Errorf("tag %q of %s is not a valid tag: %v", tag, r, err)
		}
	}
	if got := oci.Tag(catalogtest.NewEntry("base+fips/aws/x86_64/lts", 7, 0).Ref); got != "base_fips.aws.x86_64.lts.20261123.070000.0" {
		t.Errorf("tag %s", got)
	}
}

// Publish through the OCI store, then read what was pushed with the tools
// users trust: go-containerregistry's validate and crane.
func TestPublishReadBack(t *testing.T) {
	crane := testtool.Require(t, "crane")
	ctx := context.Background()
	for kind, host := range registries(t) {
		t.Run(kind, func(t *testing.T) {
			rp := repo(host)
			s := newStore(t, rp)
			e := catalogtest.NewEntry("base/qemu/x86_64/stable", 1, 10)
			rel := catalogtest.Release(t, e)
			got, err := catalog.Publish(ctx, s, rel, catalog.PublishUnverifiedUnsafe())
			if err != nil {
				t.Fatal(err)
			}
			if got.Ref != e.Ref {
				t.Fatalf("published %s", got.Ref)
			}
			ref, _ := name.ParseReference(s.Reference(e.Ref), name.Insecure)
			desc, err := remote.Get(ref)
			if err != nil {
				t.Fatal(err)
			}
			img, err := desc.Image()
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			// crane reads the manifest, the tags and each disk blob.
			run := func(args ...string) string {
				t.Helper()
				cmd := exec.Command(crane, append(args, "--insecure")...)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Run(); err != nil {
					t.Fatalf("crane %v: %v\n%s", args, err, errb.String())
				}
				return out.String()
			}
			m := run("manifest", s.Reference(e.Ref))
			for _, want := range []string{`"artifactType":"application/vnd.hardvm.vm.image.v1"`, `"dev.hardvm.ref":"` + e.Ref.String() + `"`, "application/vnd.hardvm.disk.qcow2"} {
				if !strings.Contains(m, want) {
					t.Errorf("crane manifest lacks %s:\n%s", want, m)
				}
			}
			for _, a := range rel.Artifacts {
				b := run("blob", rp+"@"+a.Digest.String())
				want, _ := os.ReadFile(a.Path)
				if b != string(want) {
					t.Errorf("crane blob %s differs from %s", a.Digest, a.Path)
				}
			}
			tags := strings.Fields(run("ls", rp))
			if !slices.Contains(tags, oci.Tag(e.Ref)) {
				t.Errorf("crane ls: %v lacks %s", tags, oci.Tag(e.Ref))
			}
			// SBOM, provenance and bundle are referrers of the image. On
			// docker-registry 2.8 they are found through the fallback tag.
			refs, err := s.Referrers(ctx, e.Ref)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, r := range refs {
				types = append(types, r.ArtifactType)
			}
			slices.Sort(types)
			if strings.Join(types, " ") != "application/spdx+json application/vnd.dev.sigstore.bundle.v0.3+json application/vnd.in-toto+json" {
				t.Errorf("referrers: %v", types)
			}
			fallback := slices.ContainsFunc(tags, func(s string) bool { return strings.HasPrefix(s, "sha256-") })
			if want := kind == "docker-registry"; fallback != want {
				t.Errorf("referrers fallback tag present: %v, want %v (tags %v)", fallback, want, tags)
			}
			// And the catalog reads back the entry.
			back, err := newStore(t, rp).Latest(ctx, catalog.Query{})
			if err != nil || back.Ref != e.Ref || len(back.Packages) != len(e.Packages) {
				t.Fatalf("Latest from a fresh store: %v, %v", back.Ref, err)
			}
		})
	}
}

// dropProxy forwards TCP connections to target but closes any connection
// once more than limit bytes went from client to server: a network that
// fails in the middle of an upload.
func dropProxy(t *testing.T, target string, limit int64) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(c, u)
				var n atomic.Int64
				buf := make([]byte, 32<<10)
				for {
					k, err := c.Read(buf)
					if k > 0 {
						if n.Add(int64(k)) > limit {
							return // drop both sides mid-request
						}
						if _, err := u.Write(buf[:k]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// A registry connection that drops mid-push: a clear error, nothing
// published, registrars rolled back; the same release then publishes
// through a good connection.
func TestPublishConnectionDropped(t *testing.T) {
	ctx := context.Background()
	host := dockerRegistry(t)
	proxy := dropProxy(t, host, 64<<10)
	e := catalogtest.NewEntry("base/qemu/x86_64/stable", 2, 10)
	rel := catalogtest.Release(t, e)
	// A disk larger than what the proxy lets through.
	big := bytes.Repeat([]byte("hardvm disk block\n"), 20000)
	os.WriteFile(rel.Artifacts[1].Path, big, 0o644)
	d := digest.FromBytes(big)
	rel.Artifacts[1].Digest, rel.Artifacts[1].Size = d, int64(len(big))
	rel.Entry.Artifacts[1].Digest, rel.Entry.Artifacts[1].Size = d, int64(len(big))

	regDir := t.TempDir()
	reg, err := local.NewRegistrar(regDir)
	if err != nil {
		t.Fatal(err)
	}
	name := "/hardvm/dropped"
	_, err = catalog.Publish(ctx, newStore(t, proxy+name), rel, catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg))
	if !errors.Is(err, catalog.ErrPublish) || !errors.Is(err, oci.ErrRegistry) || !strings.Contains(err.Error(), "upload") {
		t.Fatalf("Publish through a dropping connection: %v, want ErrPublish and ErrRegistry saying what failed", err)
	}
	t.Log(err)
	direct := newStore(t, host+name)
	if _, err := direct.Latest(ctx, catalog.Query{IncludeDeprecated: true}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("after the failed push, Latest: %v, want ErrNotFound", err)
	}
	if blobs, _ := os.ReadDir(regDir + "/blobs/sha256"); len(blobs) != 0 {
		t.Errorf("%d blobs registered though the catalog push failed", len(blobs))
	}
	if _, err := catalog.Publish(ctx, direct, rel, catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg)); err != nil {
		t.Fatalf("Publish through a good connection: %v", err)
	}
	if got, err := direct.Latest(ctx, catalog.Query{}); err != nil || got.Ref != e.Ref || len(got.Locations) != 2 {
		t.Fatalf("Latest: %v (%d locations), %v", got.Ref, len(got.Locations), err)
	}
}

// The connection drops when the image is tagged, the very last write:
// the registrars that succeeded are rolled back and no entry is visible.
func TestPublishDroppedAtTag(t *testing.T) {
	ctx := context.Background()
	host := dockerRegistry(t)
	target, _ := url.Parse("http://" + host)
	rp := httputil.NewSingleHostReverseProxy(target)
	var dropped atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := strings.LastIndex(r.URL.Path, "/manifests/")
		if r.Method == http.MethodPut && i >= 0 && !strings.HasPrefix(r.URL.Path[i+len("/manifests/"):], "sha256:") && !strings.HasPrefix(r.URL.Path[i+len("/manifests/"):], "sha256-") {
			dropped.Add(1)
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	regDir := t.TempDir()
	reg, err := local.NewRegistrar(regDir)
	if err != nil {
		t.Fatal(err)
	}
	rel := catalogtest.Release(t, catalogtest.NewEntry("base/qemu/x86_64/stable", 3, 5))
	_, err = catalog.Publish(ctx, newStore(t, srv.Listener.Addr().String()+"/hardvm/tagdrop"), rel, catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg))
	if !errors.Is(err, catalog.ErrPublish) || !strings.Contains(err.Error(), "tag ") || dropped.Load() == 0 {
		t.Fatalf("Publish with the tag dropped: %v (%d drops)", err, dropped.Load())
	}
	if _, err := newStore(t, host+"/hardvm/tagdrop").Latest(ctx, catalog.Query{IncludeDeprecated: true}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("Latest after the failed tag: %v, want ErrNotFound", err)
	}
	if blobs, _ := os.ReadDir(regDir + "/blobs/sha256"); len(blobs) != 0 {
		t.Errorf("%d blobs left on the local target: not rolled back", len(blobs))
	}
}

// A disk whose file is not what the entry records is refused as it
// uploads: Publish fails with the rejection, the registry holds no blob of
// that digest, and no target registered anything (Publish stages first).
// Both registries check digests too; the store does not rely on it.
func TestStageRejectsTamperedFile(t *testing.T) {
	ctx := context.Background()
	for kind, host := range registries(t) {
		t.Run(kind, func(t *testing.T) {
			rp := repo(host)
			e := catalogtest.NewEntry("base/qemu/x86_64/stable", 4, 3)
			rel := catalogtest.Release(t, e)
			big := bytes.Repeat([]byte("hardvm disk block\n"), 100000) // several reads
			d := digest.FromBytes(big)
			big[len(big)/2] ^= 1
			os.WriteFile(rel.Artifacts[1].Path, big, 0o644)
			rel.Artifacts[1].Digest, rel.Artifacts[1].Size = d, int64(len(big))
			rel.Entry.Artifacts[1].Digest, rel.Entry.Artifacts[1].Size = d, int64(len(big))
			regDir := t.TempDir()
			reg, err := local.NewRegistrar(regDir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = catalog.Publish(ctx, newStore(t, rp), rel, catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg))
			var ae *catalog.ArtifactError
			if !errors.Is(err, catalog.ErrPublish) || !errors.Is(err, catalog.ErrRejected) || !errors.Is(err, catalog.ErrDigest) || !errors.As(err, &ae) || ae.Target != "oci" {
				t.Fatalf("Publish of a tampered disk: %v, want ErrPublish and the store's rejection", err)
			}
			if errors.Is(err, oci.ErrRegistry) {
				t.Errorf("the rejection is reported as the registry's fault: %v", err)
			}
			repoPath := strings.TrimPrefix(rp, host+"/")
			resp, err := http.Head("http://" + host + "/v2/" + repoPath + "/blobs/" + d.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("HEAD of blob %s: %s, want 404 Not Found", d, resp.Status)
			}
			if ents, _ := os.ReadDir(regDir + "/blobs/sha256"); len(ents) != 0 {
				t.Errorf("%d blobs registered by the local target", len(ents))
			}
		})
	}
}

// A registry may list a tag before it resolves (a Put in progress on
// another host): Find and Latest skip it rather than fail.
func TestListedTagNotYetReadable(t *testing.T) {
	ctx := context.Background()
	host := ggcrRegistry(t)
	target, _ := url.Parse("http://" + host)
	rp := httputil.NewSingleHostReverseProxy(target)
	phantom := oci.Tag(catalogtest.NewEntry("squid/vmware/x86_64/lts", 9, 0).Ref)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/tags/list") {
			rp.ServeHTTP(w, r)
			return
		}
		resp, err := http.Get("http://" + host + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var list struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}
		json.NewDecoder(resp.Body).Decode(&list)
		list.Tags = append(list.Tags, phantom)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(srv.Close)
	s := newStore(t, srv.Listener.Addr().String()+"/hardvm/phantom")
	for _, n := range []int{1, 2} {
		if _, err := catalog.Publish(ctx, s, catalogtest.Release(t, catalogtest.NewEntry("squid/vmware/x86_64/lts", n, 2)), catalog.PublishUnverifiedUnsafe()); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := s.Latest(ctx, catalog.Query{Variant: "squid"}); err != nil || e.Ref.Version != catalogtest.NewEntry("squid/vmware/x86_64/lts", 2, 0).Ref.Version {
		t.Errorf("Latest with a listed tag not yet readable: %v, %v", e.Ref, err)
	}
	if es, err := s.Find(ctx, catalog.Query{}); err != nil || len(es) != 2 {
		t.Errorf("Find with a listed tag not yet readable: %d entries, %v", len(es), err)
	}
}
