// Command images writes OCI image archives without Docker: each image is one layer of
// files taken from this machine (a binary, plus its shared libraries when it has any), made
// with go-containerregistry, in an OCI image layout that also carries `docker save`'s
// manifest.json. The archives load with `ctr images import`, `kind load image-archive` and
// `docker load`.
//
//	images -o OUT.tar [-user UID:GID] [-ca-certs] NAME[,NAME...]=BINARY...
//
// Each argument is one image: BINARY at /usr/local/bin/<its name>, as the entrypoint,
// tagged with every NAME.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "images: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "", "archive to write (required)")
	user := flag.String("user", "", "user the images run as, UID:GID")
	caCerts := flag.Bool("ca-certs", false, "include this machine's CA certificates")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		return errors.New("usage: images -o OUT.tar [-user UID:GID] [-ca-certs] NAME[,NAME...]=BINARY...")
	}
	var images []taggedImage
	for _, arg := range flag.Args() {
		names, binary, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME[,NAME...]=BINARY", arg)
		}
		img, err := imageOf(binary, *user, *caCerts)
		if err != nil {
			return fmt.Errorf("%s: %w", binary, err)
		}
		ti := taggedImage{image: img}
		for _, n := range strings.Split(names, ",") {
			// Full names: a runtime must find the image under exactly what a pod asks for.
			tag, err := name.NewTag(n, name.StrictValidation)
			if err != nil {
				return fmt.Errorf("image name %q: %w", n, err)
			}
			ti.tags = append(ti.tags, tag)
		}
		images = append(images, ti)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return writeArchive(*out, images)
}
