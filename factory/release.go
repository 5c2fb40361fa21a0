package factory

import (
	"context"
	"path/filepath"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// ReleaseFunc returns the BuildFunc of hardvm itself: [hardvm.Release]
// (resolve, build, sign, verify, publish) with opts, which must include
// hardvm.WithStore, writing each build into dir/<stream>/<version>.
func ReleaseFunc(dir string, opts ...hardvm.Option) BuildFunc {
	return func(ctx context.Context, spec vm.Spec) (catalog.Entry, error) {
		ref := spec.Ref()
		out := filepath.Join(dir, filepath.FromSlash(ref.Stream()), ref.Version.String())
		return hardvm.Release(ctx, spec, append([]hardvm.Option{hardvm.WithOutputDir(out)}, opts...)...)
	}
}
