package boot

import (
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// The committed init programs are exactly what `go generate` builds from
// internal/initprog with this toolchain: nobody ships a binary that the
// source does not make.
func TestEmbeddedInitIsReproducible(t *testing.T) {
	testtool.CheckGenerated(t, "./image/boot", "generate.go",
		map[string][]byte{"init-linux-amd64": initAMD64, "init-linux-arm64": initARM64})
}
