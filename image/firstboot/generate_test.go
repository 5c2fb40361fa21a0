package firstboot

import (
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// The committed agent programs are exactly what `go generate` builds from
// internal/agentprog with this toolchain: nobody ships a binary that the
// source does not make.
func TestEmbeddedAgentIsReproducible(t *testing.T) {
	testtool.CheckGenerated(t, "./image/firstboot", "generate.go",
		map[string][]byte{"firstboot-linux-amd64": agentAMD64, "firstboot-linux-arm64": agentARM64})
}
