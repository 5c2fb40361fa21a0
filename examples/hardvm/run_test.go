package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunCommandLine(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk.qcow2")
	if err := os.WriteFile(disk, []byte("not booted in this test"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--dry-run", disk}, 0, "format=qcow2,file=" + disk},
		{[]string{"run", "--dry-run", "--format", "raw", "--memory", "1024", disk}, 0, "-m 1024"},
		{[]string{"run", "--dry-run", disk}, 0, "-snapshot"},
		{[]string{"run", "--dry-run", disk}, 0, "OVMF_CODE"},
		{[]string{"run", "--dry-run", "--secure-boot", "--firmware", "/x/CODE.fd", "--vars", "/etc/hostname", disk}, 0, "smm=on"},
		{[]string{"run"}, 2, "want exactly one DISK"},
		{[]string{"run", "--format", "vhd", disk}, 2, "want raw or qcow2"},
		{[]string{"run", "--arch", "mips", disk}, 2, "--arch"},
		{[]string{"run", filepath.Join(t.TempDir(), "missing.raw")}, 1, "no such file"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), &env{stdout: &out, stderr: &errb}, tc.args)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("%v: code %d, output %q %q; want code %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.want)
		}
	}
}
