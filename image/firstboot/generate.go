package firstboot

import (
	_ "embed"
	"fmt"

	"github.com/hardvm/hardvm/vm"
)

// The agent programs are built reproducibly from internal/agentprog and
// committed, so that building an image never needs a Go toolchain.
// TestEmbeddedAgentIsReproducible rebuilds them and checks the bytes match.
//
//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOAMD64=v1 GOFLAGS= go build -trimpath -buildvcs=false "-ldflags=-s -w -buildid=" -o firstboot-linux-amd64 ./internal/agentprog
//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=arm64 GOARM64=v8.0 GOFLAGS= go build -trimpath -buildvcs=false "-ldflags=-s -w -buildid=" -o firstboot-linux-arm64 ./internal/agentprog

var (
	//go:embed firstboot-linux-amd64
	agentAMD64 []byte
	//go:embed firstboot-linux-arm64
	agentARM64 []byte
)

// Program returns the first-boot agent for arch: a static Linux
// executable built from image/firstboot/internal/agentprog.
func Program(arch vm.Arch) ([]byte, error) {
	switch arch {
	case vm.X86_64:
		return agentAMD64, nil
	case vm.Aarch64:
		return agentARM64, nil
	}
	return nil, fmt.Errorf("%w: no agent for architecture %q", ErrUnsupported, arch)
}
