package catalogtest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// ReportCPU starts measuring the CPU time (user and system, of the whole
// process) that a benchmark spends; the returned function stops and
// reports it as "cpu-ms/op". Unlike the wall time, it does not grow with
// the load other processes put on the machine. Peers in other processes
// (Azurite, versitygw, fake-gcs-server) are not counted; in-process fakes
// are.
func ReportCPU(b *testing.B) (stop func()) {
	b.Helper()
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// SparseDisk writes a raw disk of size bytes in dir whose data are the
// first MiB of every span bytes (pseudo-random, so that nothing compresses
// or reads as zeros), the rest holes; it returns the path and the number
// of data bytes. Registrar benchmarks upload it.
func SparseDisk(t testing.TB, size, span int64) (string, int64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(uint64(size), uint64(span)))
	mib := make([]byte, 1<<20)
	var data int64
	for off := int64(0); off+int64(len(mib)) <= size; off += span {
		for i := 0; i < len(mib); i += 8 {
			v := r.Uint64()
			for j := range 8 {
				mib[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.WriteAt(mib, off); err != nil {
			t.Fatal(err)
		}
		data += int64(len(mib))
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p, data
}
