package image

import (
	"testing"
	"testing/fstest"
)

func TestMapFS(t *testing.T) {
	m := mapFS{"EFI/BOOT/BOOTX64.EFI": []byte("efi"), "/loader/loader.conf": []byte("x"), "a": nil}
	if err := fstest.TestFS(m, "EFI/BOOT/BOOTX64.EFI", "loader/loader.conf", "a"); err != nil {
		t.Fatal(err)
	}
}
