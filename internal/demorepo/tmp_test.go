package demorepo

import "os"

func tempDir() (string, error) { return os.MkdirTemp("", "demorepo") }
