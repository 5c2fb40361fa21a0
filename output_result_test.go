package hardvm_test

import (
	"testing"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/provenance"
)

func TestOutputResult(t *testing.T) {
	raw := artifact.Artifact{Path: "out/disk.raw"}
	qcow2 := artifact.Artifact{Path: "out/disk.qcow2"}
	vmdk := artifact.Artifact{Path: "out/disk.vmdk"}
	out := &hardvm.Output{
		Artifacts: []artifact.Artifact{raw, qcow2, vmdk},
		Results:   []*provenance.Result{{Artifact: "disk.qcow2"}, nil, {Artifact: "disk.raw"}},
	}
	for _, tc := range []struct {
		a    artifact.Artifact
		want string
	}{{raw, "disk.raw"}, {qcow2, "disk.qcow2"}, {vmdk, ""}} {
		got := out.Result(tc.a)
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("Result(%s) = %+v, want nil", tc.a.Path, got)
		case tc.want != "" && (got == nil || got.Artifact != tc.want):
			t.Errorf("Result(%s) = %+v, want %s", tc.a.Path, got, tc.want)
		}
	}
}
