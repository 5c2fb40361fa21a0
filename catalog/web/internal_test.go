package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

func digestOf(b []byte) digest.Digest {
	h := sha256.Sum256(b)
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h[:]))
}

// copyVerified sends every byte of a good file and holds back the last
// chunk of a bad one: what a client gets of a damaged file is never whole.
func TestCopyVerified(t *testing.T) {
	good := bytes.Repeat([]byte("0123456789abcdef"), 100000) // 1.6 MB: several chunks
	d := digestOf(good)
	var out bytes.Buffer
	if err := copyVerified(&out, bytes.NewReader(good), d, int64(len(good))); err != nil || !bytes.Equal(out.Bytes(), good) {
		t.Fatalf("good file: %v, %d bytes", err, out.Len())
	}
	// Exactly a multiple of the chunk size: the last chunk is still held.
	even := good[:512<<10]
	out.Reset()
	if err := copyVerified(&out, bytes.NewReader(even), digestOf(even), int64(len(even))); err != nil || !bytes.Equal(out.Bytes(), even) {
		t.Fatalf("file of two chunks: %v, %d bytes", err, out.Len())
	}
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	for name, c := range map[string]struct {
		data []byte
		size int64
	}{
		"last byte flipped": {bad, int64(len(good))},
		"longer":            {append(bytes.Clone(good), 'x'), int64(len(good))},
		"shorter":           {good[:len(good)-1], int64(len(good))},
	} {
		out.Reset()
		err := copyVerified(&out, bytes.NewReader(c.data), d, c.size)
		if !errors.Is(err, ErrDigest) || int64(out.Len()) >= c.size {
			t.Errorf("%s: %v, %d of %d bytes sent", name, err, out.Len(), c.size)
		}
	}
}

func TestDigestName(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for name, want := range map[string]bool{h: true, "sha256-" + h: true, "sha256:" + h: true, h + ".json": true, "sha256-" + h + ".json": true,
		strings.ToUpper(h): false, h[:63]: false, "disk.raw": false, "x" + h: false} {
		if got, ok := digestName(name); ok != want || (ok && got != h) {
			t.Errorf("digestName(%q) = %q, %v", name, got, ok)
		}
	}
}

func TestAgeAndSizes(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{-time.Hour: "in the future", 30 * time.Second: "just now", 90 * time.Minute: "1 hour ago",
		47 * time.Hour: "47 hours ago", 72 * time.Hour: "3 days ago", 90 * 24 * time.Hour: "3 months ago", 800 * 24 * time.Hour: "2 years ago"} {
		if got := age(now, now.Add(-d)); got != want {
			t.Errorf("age %s: %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 29: "1.5 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := shortDigest("sha256:" + strings.Repeat("0f", 32)); got != "0f0f0f0f0f0f" {
		t.Errorf("shortDigest: %q", got)
	}
}

// Charts sample long histories evenly, keep the newest point, and escape
// their text.
func TestChart(t *testing.T) {
	for _, n := range []int{1, 5, maxPoints, maxPoints + 1, 100000} {
		idx := sample(n)
		if len(idx) > maxPoints || idx[0] != 0 || idx[len(idx)-1] != n-1 {
			t.Errorf("sample(%d): %d points from %d to %d", n, len(idx), idx[0], idx[len(idx)-1])
		}
		for i := 1; i < len(idx); i++ {
			if idx[i] <= idx[i-1] {
				t.Fatalf("sample(%d) not increasing at %d", n, i)
			}
		}
	}
	svg := string(lineChart("<b>t</b>", "c", []string{"<v1>", "v2"}, []series{{Name: "<s>", Values: []float64{1, 2}, Has: []bool{true, true}}}, func(float64) string { return "<u>" }))
	if strings.Contains(svg, "<b>") || strings.Contains(svg, "<v1>") || strings.Contains(svg, "<s>") || strings.Contains(svg, "<u>") || !strings.Contains(svg, "<polyline") {
		t.Errorf("chart: %s", svg)
	}
	if svg := string(lineChart("t", "c", []string{"v"}, []series{{Name: "s", Values: []float64{0}, Has: []bool{false}}}, humanBytesF)); !strings.Contains(svg, "no data") {
		t.Errorf("empty chart: %s", svg)
	}
}

func humanBytesF(v float64) string { return humanBytes(int64(v)) }
