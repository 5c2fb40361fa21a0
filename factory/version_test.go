package factory_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/vm"
)

func lockOf(times ...int64) *artifact.Lock {
	l := &artifact.Lock{Arch: vm.X86_64}
	for i, t := range times {
		l.Packages = append(l.Packages, artifact.Package{Name: fmt.Sprintf("p%d", i), Version: "1.0-r0", Checksum: fmt.Sprintf("Q1%d", i), BuildTime: t})
	}
	return l
}

func TestNextVersion(t *testing.T) {
	l := lockOf(100, 300, 200)
	for _, c := range []struct {
		latest, want vm.Version
	}{
		{vm.Version{}, vm.Version{Epoch: 300}},                               // first build: the newest build time
		{vm.Version{Epoch: 250, Build: 4}, vm.Version{Epoch: 300}},           // newer packages: a new epoch
		{vm.Version{Epoch: 300}, vm.Version{Epoch: 300, Build: 1}},           // same epoch: the catalog's counter
		{vm.Version{Epoch: 900, Build: 2}, vm.Version{Epoch: 900, Build: 3}}, // older packages (a revert): never backwards
	} {
		got, err := factory.NextVersion(l, c.latest)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("NextVersion(latest %v) = %v, want %v", c.latest, got, c.want)
		}
		if !c.latest.IsZero() && got.Compare(c.latest) <= 0 {
			t.Errorf("NextVersion(latest %v) = %v: not after it", c.latest, got)
		}
	}
	if _, err := factory.NextVersion(lockOf(0, 0), vm.Version{}); !errors.Is(err, factory.ErrLock) {
		t.Errorf("lock without build times: %v", err)
	}
	if _, err := factory.SourceDateEpoch(&artifact.Lock{}); !errors.Is(err, factory.ErrLock) {
		t.Errorf("empty lock: %v", err)
	}
	spec := factory.WithVersion(vm.Spec{Variant: "base"}, vm.Version{Epoch: 300, Build: 1})
	if spec.SourceDateEpoch != 300 || spec.Build != 1 {
		t.Errorf("WithVersion: %d.%d", spec.SourceDateEpoch, spec.Build)
	}
}

func TestLockDigest(t *testing.T) {
	a, b := lockOf(1, 2), lockOf(1, 2)
	b.Packages[0], b.Packages[1] = b.Packages[1], b.Packages[0]
	b.Repositories = []artifact.Repository{{URL: "https://example.com", IndexDigest: "sha256:00"}}
	if factory.LockDigest(a) != factory.LockDigest(b) {
		t.Error("the digest depends on package order or repository index digests")
	}
	for name, change := range map[string]func(*artifact.Lock){
		"version":  func(l *artifact.Lock) { l.Packages[0].Version = "1.1-r0" },
		"checksum": func(l *artifact.Lock) { l.Packages[0].Checksum = "Q1other" },
		"added":    func(l *artifact.Lock) { l.Packages = append(l.Packages, artifact.Package{Name: "x"}) },
		"arch":     func(l *artifact.Lock) { l.Arch = vm.Aarch64 },
	} {
		c := lockOf(1, 2)
		change(c)
		if factory.LockDigest(c) == factory.LockDigest(a) {
			t.Errorf("%s change keeps the digest", name)
		}
	}
}
