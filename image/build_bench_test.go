package image_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/vm"
)

var (
	benchMB   = flag.Int("install-mb", 500, "BenchmarkInstallVsTar: installed megabytes of the generated repository")
	benchPkgs = flag.Int("install-packages", 200, "BenchmarkInstallVsTar: packages in the generated repository")
)

// benchRepo writes a repository of n packages totalling about mb MiB of
// compressible file content (4 files a package) and returns a lock of all
// of them.
func benchRepo(b *testing.B, n, mb int) (*artifact.Lock, string) {
	b.Helper()
	dir := b.TempDir()
	repo := apktest.NewRepository(dir, "x86_64", apktest.NewKey("bench", 5))
	per := int64(mb) << 20 / int64(n) / 4
	var world []string
	for i := range n {
		name := fmt.Sprintf("pkg%03d", i)
		world = append(world, name)
		p := apktest.Package{Name: name, Version: "1.0-r0"}
		p.Files = append(p.Files, apktest.File{Name: "usr", Mode: os.ModeDir | 0o755}, apktest.File{Name: "usr/lib", Mode: os.ModeDir | 0o755},
			apktest.File{Name: "usr/lib/" + name, Mode: os.ModeDir | 0o755})
		for j := range 4 {
			p.Files = append(p.Files, apktest.File{Name: fmt.Sprintf("usr/lib/%s/f%d", name, j), Mode: 0o644, Size: per})
		}
		repo.Add(p)
	}
	if err := repo.Write(); err != nil {
		b.Fatal(err)
	}
	spec := vm.Spec{Arch: vm.X86_64, SourceDateEpoch: 1700000000, Packages: world,
		Repositories: []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Wolfi}}}
	lock, err := image.Resolve(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	return lock, dir
}

// peakRSS returns this process's peak resident set (VmHWM) in bytes.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM (Linux: "5" to clear_refs).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkInstallVsTar installs a generated repository (by default 200
// packages, 500 MiB) with image.Build and extracts the same .apk files with
// `tar -xzf` in one shell run, and reports both times, their ratio
// (tar-s/install-s > 1 means we are faster) and both peak RSS. Run it with
// `make bench` or:
//
//	go test -run '^$' -bench InstallVsTar -benchtime 1x ./image/
func BenchmarkInstallVsTar(b *testing.B) {
	lock, dir := benchRepo(b, *benchPkgs, *benchMB)
	var ours, tar time.Duration
	var oursRSS, tarRSS int64
	b.ResetTimer()
	for range b.N {
		staging := b.TempDir()
		runtimeGC()
		resetPeakRSS()
		t0 := time.Now()
		root, err := image.Build(context.Background(), lock, image.WithBuildStagingDir(staging))
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		oursRSS = max(oursRSS, peakRSS())
		root.Close()

		out := b.TempDir()
		cmd := exec.Command("bash", "-c", `for f in "$1"/x86_64/*.apk; do tar --warning=no-unknown-keyword -xzf "$f" -C "$2" || exit 1; done`, "bash", dir, out)
		t0 = time.Now()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("tar: %v\n%s", err, o)
		}
		tar += time.Since(t0)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			tarRSS = max(tarRSS, ru.Maxrss<<10)
		}
		os.RemoveAll(out)
	}
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "install-s")
	b.ReportMetric(tar.Seconds()/n, "tar-s")
	b.ReportMetric(tar.Seconds()/ours.Seconds(), "tar/install")
	b.ReportMetric(float64(oursRSS)/(1<<20), "install-peak-RSS-MiB")
	b.ReportMetric(float64(tarRSS)/(1<<20), "tar-peak-RSS-MiB")
	b.ReportMetric(float64(*benchMB)/(ours.Seconds()/n), "install-MiB/s")
}

// BenchmarkBuildSmall is the quick version: 20 packages, 20 MiB.
func BenchmarkBuildSmall(b *testing.B) {
	lock, _ := benchRepo(b, 20, 20)
	b.SetBytes(20 << 20)
	b.ResetTimer()
	for range b.N {
		root, err := image.Build(context.Background(), lock, image.WithBuildStagingDir(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		root.Close()
	}
}

func runtimeGC() { debug.FreeOSMemory() }
