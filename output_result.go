package hardvm

import (
	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/provenance"
)

// Result returns the verification result of a, one of o.Artifacts, or nil
// when the verification did not reach it. Results are in the build
// directory's order, which is not the order of Artifacts: match them with
// Result, never by position.
func (o *Output) Result(a artifact.Artifact) *provenance.Result {
	for _, r := range o.Results {
		if r != nil && r.Artifact == a.Name() {
			return r
		}
	}
	return nil
}
