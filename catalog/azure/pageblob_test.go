package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// testRaw writes a sparse raw disk of size bytes: a header at 0, 1 MiB of
// random data at 5 MiB + 4 KiB (crossing no page boundary on purpose:
// 4 KiB aligned, not 4 MiB aligned), a page of random data at the last
// page, explicitly written zeros at 9 MiB, holes elsewhere.
func testRaw(t testing.TB, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(8, 8))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	writes := []struct {
		off int64
		b   []byte
	}{
		{0, bytes.Repeat([]byte("hardvm"), 700)},
		{5<<20 + 4096, rnd(1 << 20)},
		{9 << 20, make([]byte, 256<<10)},
		{size - 512, rnd(512)},
	}
	for _, w := range writes {
		if _, err := f.WriteAt(w.b, w.off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// testVHD converts the raw disk at raw to a fixed VHD with vdisk's writer.
func testVHD(t testing.TB, raw string) string {
	t.Helper()
	src, err := vdisk.OpenFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(filepath.Dir(raw), "disk.vhd")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (vdisk.VHD{Seed: "test", SourceDateEpoch: 1700000000}).WriteDisk(context.Background(), f, src); err != nil {
		t.Fatal(err)
	}
	return p
}

func pageRanges(t *testing.T, c *pageblob.Client) [][2]int64 {
	t.Helper()
	var out [][2]int64
	pg := c.NewGetPageRangesPager(nil)
	for pg.More() {
		r, err := pg.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range r.PageRange {
			if n := len(out); n > 0 && out[n-1][1] == *pr.Start {
				out[n-1][1] = *pr.End + 1 // Azurite may report adjacent writes apart
				continue
			}
			out = append(out, [2]int64{*pr.Start, *pr.End + 1})
		}
	}
	return out
}

func download(t *testing.T, c *pageblob.Client, p string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.DownloadFile(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
}

// openVHD opens the VHD at p as an artifact with its digest.
func openVHD(t testing.TB, p string, r progress.Reporter) *catalog.ArtifactFile {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := digest.SHA256.FromReader(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	src, err := catalog.OpenArtifact(artifact.Artifact{Format: vm.FormatVHD, Path: p, Digest: d}, "azure", r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestUploadPageBlobSendsOnlyData(t *testing.T) {
	qemu := testtool.Require(t, "qemu-img")
	ctr := startAzurite(t)
	const size = 16 << 20
	raw := testRaw(t, size)
	vhd := testVHD(t, raw)
	var mu sync.Mutex
	var last, calls int64
	f := openVHD(t, vhd, progress.Func(func(_ string, done, _ int64) { mu.Lock(); calls++; last = done; mu.Unlock() }))
	fi, _ := os.Stat(vhd)
	pb := ctr.NewPageBlobClient("disk.vhd")
	st, err := uploadPageBlob(context.Background(), sasContainer(t, ctr), "disk.vhd", f, blobSpec{
		metadata: metadata(map[string]string{TagRef: "r", TagDigest: "d"}),
		workers:  3,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Sent: the header page run (4200 bytes -> 9 pages), the 1 MiB of
	// random data (2048 pages), the last data page and the footer. Not
	// sent: the holes and the explicit zeros at 9 MiB.
	want := int64(9*512 + 1<<20 + 512 + 512)
	if st.BytesSent != want || st.BytesSkipped != fi.Size()-want {
		t.Errorf("sent %d skipped %d, want sent %d of %d", st.BytesSent, st.BytesSkipped, want, fi.Size())
	}
	if calls == 0 || last != fi.Size() {
		t.Errorf("progress: %d calls, last %d of %d", calls, last, fi.Size())
	}
	// Azurite reports the pages that were written: they must be exactly
	// the non-zero ones.
	got := pageRanges(t, pb)
	wantRanges := [][2]int64{{0, 9 * 512}, {5<<20 + 4096, 5<<20 + 4096 + 1<<20}, {size - 512, size + 512}}
	if len(got) != len(wantRanges) {
		t.Fatalf("page ranges %v, want %v", got, wantRanges)
	}
	for i := range got {
		if got[i] != wantRanges[i] {
			t.Errorf("page range %d: %v, want %v", i, got[i], wantRanges[i])
		}
	}
	props, err := pb.GetProperties(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := props.Metadata["Hardvm_ref"]; v == nil || *v != "r" {
		if v = props.Metadata["hardvm_ref"]; v == nil || *v != "r" {
			t.Errorf("metadata %v", props.Metadata)
		}
	}
	// The blob, read back, is the same VHD: qemu-img reads it as a VHD whose
	// content is the raw disk.
	back := filepath.Join(t.TempDir(), "back.vhd")
	download(t, pb, back)
	testtool.Run(t, qemu, "compare", "-f", "vpc", "-F", "raw", back, raw)
	testtool.Run(t, qemu, "compare", "-f", "raw", "-F", "raw", back, vhd)
}

func TestUploadPageBlobHonoursContext(t *testing.T) {
	ctr := startAzurite(t)
	f := openVHD(t, testVHD(t, testRaw(t, 8<<20)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := uploadPageBlob(ctx, sasContainer(t, ctr), "x.vhd", f, blobSpec{workers: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestRuns checks the requests a chunk becomes: the runs of non-zero
// pages, merged across gaps shorter than mergeGap.
func TestRuns(t *testing.T) {
	page := func(n int) []byte { return bytes.Repeat([]byte{byte(n)}, PageSize) }
	buf := func(pages ...[]byte) []byte { return bytes.Join(pages, nil) }
	zero := func(n int) []byte { return make([]byte, n*PageSize) }
	gap := mergeGap / PageSize
	tests := []struct {
		name string
		b    []byte
		want [][2]int
	}{
		{"empty", nil, nil},
		{"zeros", zero(8), nil},
		{"one page", buf(zero(2), page(1), zero(3)), [][2]int{{2 * PageSize, 3 * PageSize}}},
		{"short gap merged", buf(page(1), zero(gap-1), page(2)), [][2]int{{0, (gap + 1) * PageSize}}},
		{"long gap split", buf(page(1), zero(gap), page(2)), [][2]int{{0, PageSize}, {(gap + 1) * PageSize, (gap + 2) * PageSize}}},
		{"partial last page", buf(zero(1), []byte{0, 0, 7}), [][2]int{{PageSize, PageSize + 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runs(tt.b); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("runs = %v, want %v", got, tt.want)
			}
		})
	}
}
