package main

import "runtime"

const goarch = runtime.GOARCH
