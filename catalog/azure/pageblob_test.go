package azure

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/internal/testtool"
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

func TestUploadPageBlobSendsOnlyData(t *testing.T) {
	qemu := testtool.Require(t, "qemu-img")
	ctr := startAzurite(t)
	const size = 16 << 20
	raw := testRaw(t, size)
	vhd := testVHD(t, raw)
	f, err := os.Open(vhd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pb := ctr.NewPageBlobClient("disk.vhd")
	var last, calls int64
	st, err := uploadPageBlob(context.Background(), pb, f, fi.Size(), blobSpec{
		metadata: metadata(map[string]string{TagRef: "r", TagDigest: "d"}),
		workers:  3,
		progress: func(done, total int64) { calls++; last = done; _ = total },
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
	if calls == 0 || last == 0 {
		t.Errorf("progress: %d calls, last %d", calls, last)
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
	vhd := testVHD(t, testRaw(t, 8<<20))
	f, _ := os.Open(vhd)
	defer f.Close()
	fi, _ := f.Stat()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := uploadPageBlob(ctx, ctr.NewPageBlobClient("x.vhd"), f, fi.Size(), blobSpec{workers: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestChunks(t *testing.T) {
	const M = MaxPutPages
	tests := []struct {
		name string
		ext  []sparse.Extent
		size int64
		want []chunk
	}{
		{"empty", nil, 4 * M, nil},
		{"aligned out", ext(100, 10), 4 * M, []chunk{{0, 512}}},
		{"split at 4 MiB", ext(M-512, 1024), 4 * M, []chunk{{M - 512, 512}, {M, 512}}},
		{"shared page", ext(0, 100, 200, 100, 600, 10), 4 * M, []chunk{{0, 1024}}},
		{"long", ext(0, 3*M), 4 * M, []chunk{{0, M}, {M, M}, {2 * M, M}}},
		{"clipped", ext(4*M-10, 100), 4 * M, []chunk{{4*M - 512, 512}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chunks(tt.ext, tt.size)
			if len(got) != len(tt.want) {
				t.Fatalf("chunks = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("chunks = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// ext makes extents from offset, length pairs.
func ext(v ...int64) []sparse.Extent {
	var out []sparse.Extent
	for i := 0; i+1 < len(v); i += 2 {
		out = append(out, sparse.Extent{Offset: v[i], Length: v[i+1]})
	}
	return out
}
