package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// taggedImage is one image and every name it carries.
type taggedImage struct {
	image v1.Image
	tags  []name.Tag
}

// writeArchive writes images as one tar holding an OCI image layout (index.json, oci-layout,
// blobs/) with each name annotated as containerd and Docker read it, plus the manifest.json
// of `docker save` pointing at the same blobs, as `docker save` itself writes since Docker 25.
// ctr, kind (which uses ctr) and any Docker load it.
func writeArchive(out string, images []taggedImage) error {
	dir, err := os.MkdirTemp(filepath.Dir(out), ".layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	var dockerManifest tarball.Manifest
	for _, ti := range images {
		var repoTags []string
		for _, tag := range ti.tags {
			err := p.AppendImage(ti.image, layout.WithAnnotations(map[string]string{
				"io.containerd.image.name":          tag.Name(),
				"org.opencontainers.image.ref.name": tag.TagStr(),
			}))
			if err != nil {
				return err
			}
			repoTags = append(repoTags, tag.Name())
		}
		d, err := dockerDescriptor(ti.image, repoTags)
		if err != nil {
			return err
		}
		dockerManifest = append(dockerManifest, d)
	}
	data, err := json.Marshal(dockerManifest)
	if err != nil {
		return err
	}
	if err := p.WriteFile("manifest.json", data, 0o644); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarDir(dir, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// dockerDescriptor is an image's entry in manifest.json: blob paths in the layout.
func dockerDescriptor(img v1.Image, repoTags []string) (tarball.Descriptor, error) {
	blob := func(h v1.Hash) string { return filepath.Join("blobs", h.Algorithm, h.Hex) }
	cfg, err := img.ConfigName()
	if err != nil {
		return tarball.Descriptor{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return tarball.Descriptor{}, err
	}
	d := tarball.Descriptor{Config: blob(cfg), RepoTags: repoTags}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return tarball.Descriptor{}, err
		}
		d.Layers = append(d.Layers, blob(h))
	}
	return d, nil
}

// tarDir packs the layout directory as the archive; entries in a stable order, with no
// times or owners, so the same images give the same bytes.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755})
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: info.Size()}); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
