package boot

import (
	_ "embed"
	"fmt"

	"github.com/hardvm/hardvm/vm"
)

// The init programs are built reproducibly from internal/initprog and
// committed, so that building an image never needs a Go toolchain.
// TestEmbeddedInitIsReproducible rebuilds them and checks the bytes match.
//
//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOAMD64=v1 GOFLAGS= go build -trimpath -buildvcs=false "-ldflags=-s -w -buildid=" -o init-linux-amd64 ./internal/initprog
//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=arm64 GOARM64=v8.0 GOFLAGS= go build -trimpath -buildvcs=false "-ldflags=-s -w -buildid=" -o init-linux-arm64 ./internal/initprog

var (
	//go:embed init-linux-amd64
	initAMD64 []byte
	//go:embed init-linux-arm64
	initARM64 []byte
)

// InitProgram returns hardvm's initramfs init for arch: a static Linux
// executable built from image/boot/internal/initprog.
func InitProgram(arch vm.Arch) ([]byte, error) {
	switch arch {
	case vm.X86_64:
		return initAMD64, nil
	case vm.Aarch64:
		return initARM64, nil
	}
	return nil, fmt.Errorf("%w: no init program for architecture %q", ErrKernel, arch)
}
