module github.com/hardvm/hardvm

go 1.26.0

toolchain go1.26.8

require (
	github.com/erofs/go-erofs v0.3.1 // indirect
	github.com/google/go-containerregistry v0.22.1 // indirect
	github.com/in-toto/attestation v1.2.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/sigstore/protobuf-specs v0.5.2 // indirect
	github.com/sigstore/sigstore-go v1.3.0 // indirect
	github.com/spdx/tools-golang v0.5.7 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
