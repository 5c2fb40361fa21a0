package agent

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// Real OpenSSH public keys, made with ssh-keygen for these tests (the
// private halves were discarded).
const (
	keyEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdwR3aiO1H5FdHbV0znW2nucZmK+R8u1gpRiT04RLLL alice@example"
	keyECDSA   = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBItK4+pxJOAlDJ7Tyw92xB5w1v/qLBLcGhkRNb2gzD/DdTsf6NV4AXw0sPThULcHdvAnFmetP4neFOF8zJcrHe4= bob"
	keyRSA     = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCaD6Uwdayw2SlMB0h7+IW1fqTGhvF2LdDxjWOOmce30QpbaW931L8HzEX4C1tgGnmO1xUeYZp/DghsJ7hEme+SQj5JKpNPX9AxZT3o2WsO49AQmU5yuuXJQizrC0HIzlZWxcAWy/jimYtCXh1kNqX7Yb7EnUyMWwI7a98i6HezyN+61KYOG5JDlsi+expnRk12vRcME/I9gp/RdTiIAmHVteFFpEImvS5/idmhPgWWbCNTLlgtUvgjgjrY02SLSPMelEjgn4+kTUc8ac1W6quEbuMCrRxllsFZQ1lQIdE50c6zq/AdzwtgVtCkOmCdvrZaUs9Q6/N7CK30zPKPIQjT carol"
)

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipBase64(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}
