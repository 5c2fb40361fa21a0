package fat_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/fat"
)

func Example() {
	esp := fstest.MapFS{
		"EFI/BOOT/BOOTX64.EFI": {Data: []byte("MZ...")},
		"loader/loader.conf":   {Data: []byte("timeout 0\n")},
	}
	dir, err := os.MkdirTemp("", "fat-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "esp.img"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	g, err := fat.Write(context.Background(), f, 64<<20, esp, fat.WithEpoch(1700000000), fat.WithLabel("ESP"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.Clusters, "clusters of", g.SectorsPerClus*512, "bytes")
	// Output: 129022 clusters of 512 bytes
}
