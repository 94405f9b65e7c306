// Command manpage prints s3mount(8), generated from the --help source:
//
//	go run ./internal/config/manpage > packaging/s3mount.8
package main

import (
	"os"

	"github.com/s3mount/s3mount/internal/config"
)

func main() {
	os.Stdout.WriteString(config.ManPage())
}
