// Command images writes OCI image archives without Docker: each image is one layer of
// files taken from this machine (a binary, plus its shared libraries when it has any), made
// with go-containerregistry. The archives load with `docker load`, `kind load
// image-archive` and `ctr images import`.
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
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
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
	refs := map[name.Reference]v1.Image{}
	for _, arg := range flag.Args() {
		names, binary, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME[,NAME...]=BINARY", arg)
		}
		img, err := imageOf(binary, *user, *caCerts)
		if err != nil {
			return fmt.Errorf("%s: %w", binary, err)
		}
		for _, n := range strings.Split(names, ",") {
			// Full names: a runtime must find the image under exactly what a pod asks for.
			tag, err := name.NewTag(n, name.StrictValidation)
			if err != nil {
				return fmt.Errorf("image name %q: %w", n, err)
			}
			refs[tag] = img
		}
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	tmp := *out + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}
