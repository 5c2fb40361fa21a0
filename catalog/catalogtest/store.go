package catalogtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// RunStore checks that a Store keeps entries whole, answers queries, is
// idempotent, refuses conflicts and stays consistent under concurrent
// writers. open returns a new, empty store each time it is called.
func RunStore(t *testing.T, open func(t *testing.T) catalog.Store) {
	t.Helper()
	ctx := context.Background()

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		if _, err := s.Latest(ctx, catalog.Query{}); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("Latest on an empty store: %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, NewEntry("base/aws/x86_64/stable", 0, 1).Ref); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("Get on an empty store: %v, want ErrNotFound", err)
		}
		if es, err := s.Find(ctx, catalog.Query{IncludeDeprecated: true}); err != nil || len(es) != 0 {
			t.Errorf("Find on an empty store: %d entries, %v", len(es), err)
		}
	})

	t.Run("PutGet", func(t *testing.T) {
		s := open(t)
		e := NewEntry("base/aws/x86_64/stable", 1, 20)
		e.Locations = []catalog.Location{{Target: vm.AWS, Region: "eu-west-1", ID: "ami-0123"}}
		got, err := put(t, s, e)
		if err != nil {
			t.Fatal(err)
		}
		sameEntry(t, "Put", got, e)
		got, err = s.Get(ctx, e.Ref)
		if err != nil {
			t.Fatal(err)
		}
		sameEntry(t, "Get", got, e)
		// A ref without digest finds it; with another digest, it does not.
		r := e.Ref
		r.Digest = ""
		if _, err := s.Get(ctx, r); err != nil {
			t.Errorf("Get without digest: %v", err)
		}
		r.Digest = Digest("other")
		if _, err := s.Get(ctx, r); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("Get with another digest: %v, want ErrNotFound", err)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		s := open(t)
		e := NewEntry("base/gcp/aarch64/lts", 2, 5)
		if _, err := put(t, s, e); err != nil {
			t.Fatal(err)
		}
		again := e
		again.Locations = []catalog.Location{{Target: vm.GCP, ID: "projects/x/images/y"}}
		got, err := put(t, s, again)
		if err != nil {
			t.Fatalf("second Put of the same digest: %v", err)
		}
		sameEntry(t, "second Put returns the stored entry", got, e)
		es, err := s.Find(ctx, catalog.Query{IncludeDeprecated: true})
		if err != nil || len(es) != 1 {
			t.Errorf("after two Puts: %d entries, %v", len(es), err)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		s := open(t)
		e := NewEntry("nginx/azure/x86_64/stable", 3, 5)
		if _, err := put(t, s, e); err != nil {
			t.Fatal(err)
		}
		other := e
		other.Ref.Digest = Digest("another build")
		other.Artifacts = append([]catalog.Artifact(nil), e.Artifacts...)
		other.Artifacts[0].Digest, other.Artifacts[0].Size = other.Ref.Digest, size(other.Ref.Digest)
		if _, err := put(t, s, other); !errors.Is(err, catalog.ErrConflict) {
			t.Errorf("Put of another digest: %v, want ErrConflict", err)
		}
		got, err := s.Get(ctx, e.Ref)
		if err != nil {
			t.Fatal(err)
		}
		sameEntry(t, "after the conflict", got, e)
	})

	t.Run("Invalid", func(t *testing.T) {
		s := open(t)
		e := NewEntry("base/aws/x86_64/stable", 1, 2)
		e.Ref.Digest = ""
		if _, err := put(t, s, e); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("Put without digest: %v, want ErrInvalid", err)
		}
		if _, err := s.Find(ctx, catalog.Query{Variant: "nope"}); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("Find of an unknown variant: %v, want ErrInvalid", err)
		}
	})

	t.Run("Queries", func(t *testing.T) {
		s := open(t)
		streams := []string{"base/aws/x86_64/stable", "base+fips/aws/x86_64/lts", "nginx/gcp/aarch64/stable"}
		for i, st := range streams {
			for n := range 4 {
				e := NewEntry(st, 10*i+n, 3)
				if n%2 == 0 {
					e.Locations = []catalog.Location{{Target: e.Ref.Platform, Region: "eu-west-1", ID: fmt.Sprint("img-", i, n)}}
				}
				if _, err := put(t, s, e); err != nil {
					t.Fatal(err)
				}
			}
		}
		v := func(n int) vm.Version { return NewEntry("base/aws/x86_64/stable", n, 0).Ref.Version }
		for _, tc := range []struct {
			name string
			q    catalog.Query
			want []int // builds, sorted
		}{
			{"all", catalog.Query{}, []int{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}},
			{"variant", catalog.Query{Variant: "nginx"}, []int{20, 21, 22, 23}},
			{"platform+arch", catalog.Query{Platform: vm.AWS, Arch: vm.X86_64}, []int{0, 1, 2, 3, 10, 11, 12, 13}},
			{"fips", catalog.Query{FIPS: catalog.FIPSOnly}, []int{10, 11, 12, 13}},
			{"no fips", catalog.Query{FIPS: catalog.NoFIPS, Platform: vm.AWS}, []int{0, 1, 2, 3}},
			{"kernel", catalog.Query{Kernel: vm.LTS}, []int{10, 11, 12, 13}},
			{"region", catalog.Query{Region: "eu-west-1"}, []int{0, 2, 10, 12, 20, 22}},
			{"versions", catalog.Query{MinVersion: v(2), MaxVersion: v(12)}, []int{2, 3, 10, 11, 12}},
			{"as of", catalog.Query{AsOf: v(11).Time()}, []int{0, 1, 2, 3, 10, 11}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				es, err := s.Find(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				for _, e := range es {
					got = append(got, int((e.Ref.Version.Epoch-Base)/3600))
				}
				slices.Sort(got) // Find sorts by stream name, then version
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("Find: builds %v, want %v", got, tc.want)
				}
			})
		}
		latest := func(q catalog.Query) int {
			t.Helper()
			e, err := s.Latest(ctx, q)
			if err != nil {
				t.Fatalf("Latest(%+v): %v", q, err)
			}
			return int((e.Ref.Version.Epoch - Base) / 3600)
		}
		for _, tc := range []struct {
			name string
			q    catalog.Query
			want int
		}{
			{"overall", catalog.Query{}, 23},
			{"stream", catalog.StreamQuery(NewEntry(streams[1], 0, 0).Ref), 13},
			{"aws", catalog.Query{Platform: vm.AWS}, 13},
			{"as of", catalog.Query{Platform: vm.AWS, AsOf: v(11).Time().Add(time.Minute)}, 11},
			{"max version", catalog.Query{Variant: "base", MaxVersion: v(2)}, 2},
			{"region", catalog.Query{Variant: "base", Region: "eu-west-1"}, 12},
		} {
			if got := latest(tc.q); got != tc.want {
				t.Errorf("Latest %s: build %d, want %d", tc.name, got, tc.want)
			}
		}

		// Deprecate the newest base+fips: Latest falls back, as-of before
		// the deprecation still sees it, IncludeDeprecated lists it.
		newest := NewEntry(streams[1], 13, 3)
		prev := NewEntry(streams[1], 12, 3).Ref
		depTime := newest.Published.Add(48 * time.Hour)
		d := catalog.Deprecation{Time: depTime, Replacement: &prev, EndOfLife: depTime.Add(30 * 24 * time.Hour), Reason: "kernel regression"}
		got, err := s.Deprecate(ctx, newest.Ref, d)
		if err != nil {
			t.Fatal(err)
		}
		if got.Deprecation == nil || got.Deprecation.Reason != d.Reason {
			t.Fatalf("Deprecate returned %+v", got.Deprecation)
		}
		q := catalog.StreamQuery(newest.Ref)
		if b := latest(q); b != 12 {
			t.Errorf("Latest after deprecation: %d, want 12", b)
		}
		q.AsOf = depTime.Add(-time.Hour)
		if b := latest(q); b != 13 {
			t.Errorf("Latest as of before the deprecation: %d, want 13", b)
		}
		q.AsOf = time.Time{}
		q.IncludeDeprecated = true
		if b := latest(q); b != 13 {
			t.Errorf("Latest including deprecated: %d, want 13", b)
		}
		e, err := s.Get(ctx, newest.Ref)
		if err != nil || e.Deprecation == nil || !e.Deprecation.EndOfLife.Equal(d.EndOfLife) || *e.Deprecation.Replacement != prev {
			t.Errorf("Get after Deprecate: %+v, %v", e.Deprecation, err)
		}
		if _, err := s.Deprecate(ctx, NewEntry(streams[1], 99, 0).Ref, d); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("Deprecate of a missing ref: %v, want ErrNotFound", err)
		}
	})

	// AddLocations is an optional capability (catalog.LocationRecorder):
	// a store without it is not asked for it (Publish then refuses a new
	// target for a known image with ErrConflict).
	_, recorder := open(t).(catalog.LocationRecorder)
	if !recorder {
		t.Logf("the store is not a catalog.LocationRecorder: AddLocations not run")
	} else {
		t.Run("AddLocations", func(t *testing.T) {
			s := open(t)
			lr := s.(catalog.LocationRecorder)
			e := NewEntry("base/gcp/x86_64/stable", 2, 3)
			e.Locations = []catalog.Location{{Target: vm.QEMU, ID: "images/disk.raw"}}
			if _, err := put(t, s, e); err != nil {
				t.Fatal(err)
			}
			add := []catalog.Location{{Target: vm.GCP, ID: "projects/p/global/images/base-2"}, e.Locations[0]}
			got, err := lr.AddLocations(ctx, e.Ref, add)
			if err != nil {
				t.Fatal(err)
			}
			want := e
			want.Locations = catalog.MergeLocations(e.Locations, add[:1])
			sameEntry(t, "AddLocations", got, want)
			if got, err = s.Get(ctx, e.Ref); err != nil {
				t.Fatal(err)
			}
			sameEntry(t, "Get after AddLocations", got, want)
			other := e.Ref
			other.Digest = Digest("other")
			if _, err := lr.AddLocations(ctx, other, add); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("AddLocations with another digest: %v, want ErrNotFound", err)
			}
		})
	}

	t.Run("ConcurrentSameRef", func(t *testing.T) {
		s := open(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		// Half publish one digest, half another: one digest wins, every
		// writer of it succeeds, every writer of the other conflicts.
		for i := range n {
			wg.Go(func() {
				e := NewEntry("java/qemu/x86_64/stable", 5, 10)
				if i%2 == 1 {
					e.Ref.Digest = Digest("odd")
					e.Artifacts = slices.Clone(e.Artifacts)
					e.Artifacts[0].Digest, e.Artifacts[0].Size = e.Ref.Digest, size(e.Ref.Digest)
				}
				_, errs[i] = put(t, s, e)
			})
		}
		wg.Wait()
		r := NewEntry("java/qemu/x86_64/stable", 5, 10).Ref
		r.Digest = ""
		stored, err := s.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		winner := 0
		if stored.Ref.Digest == Digest("odd") {
			winner = 1
		}
		for i, err := range errs {
			switch {
			case i%2 == winner && err != nil:
				t.Errorf("writer %d of the stored digest: %v", i, err)
			case i%2 != winner && !errors.Is(err, catalog.ErrConflict):
				t.Errorf("writer %d of the other digest: %v, want ErrConflict", i, err)
			}
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		s := open(t)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = put(t, s, NewEntry("squid/vmware/x86_64/lts", i, 4))
				if errs[i] == nil {
					_, errs[i] = s.Latest(ctx, catalog.Query{Variant: "squid"})
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		es, err := s.Find(ctx, catalog.Query{})
		if err != nil || len(es) != n {
			t.Fatalf("after %d concurrent Puts: %d entries, %v", n, len(es), err)
		}
	})
}

// sameEntry fails t unless got and want have the same JSON form.
func sameEntry(t *testing.T, what string, got, want catalog.Entry) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s: entry differs\n got %s\nwant %s", what, g, w)
	}
}

// put stages e's files if s keeps files (catalog.Stager), then puts e.
func put(t *testing.T, s catalog.Store, e catalog.Entry) (catalog.Entry, error) {
	t.Helper()
	if st, ok := s.(catalog.Stager); ok {
		r := Release(t, e)
		if err := st.Stage(context.Background(), &r); err != nil {
			return catalog.Entry{}, err
		}
	}
	return s.Put(context.Background(), e)
}
