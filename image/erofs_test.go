package image

import (
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/erofs"
)

func TestErofsAttr(t *testing.T) {
	m := fstest.MapFS{
		"a": {Sys: &FileAttr{UID: 1, GID: 2, Xattrs: map[string]string{"user.x": "y"}, Ino: 7, Nlink: 2}},
		"b": {},
	}
	for name, want := range map[string]erofs.Attr{
		"a": {UID: 1, GID: 2, Xattrs: map[string]string{"user.x": "y"}, Ino: 7},
		"b": {},
	} {
		fi, err := fs.Stat(m, name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ErofsAttr(name, fi)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, want)
		}
	}
}
