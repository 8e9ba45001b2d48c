package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
)

// file is one file of a layer: src on this machine, dst in the image.
type file struct {
	src, dst string
	mode     int64
}

type layerData []byte

func (d layerData) opener() func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(d)), nil }
}

// layerTar is the layer's file system as a tar stream (the layer's content, which
// go-containerregistry then compresses, digests and describes). Parent directories are
// written first; times are zero so the same inputs give the same image.
func layerTar(files []file) (layerData, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	sort.Slice(files, func(i, j int) bool { return files[i].dst < files[j].dst })
	for _, f := range files {
		var parents []string
		for d := path.Dir(f.dst); d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
			dirs[d] = true
		}
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755}); err != nil {
				return nil, err
			}
		}
		data, err := os.ReadFile(f.src) // follows symlinks: the image gets the real content
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.dst, "/"), Mode: f.mode, Size: int64(len(data))}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sharedLibraries lists what a dynamically linked binary loads (its interpreter included),
// as ldd resolves them on this machine; nothing for a static binary.
func sharedLibraries(binary string) ([]file, error) {
	out, err := exec.Command("ldd", binary).CombinedOutput()
	text := string(out)
	if strings.Contains(text, "not a dynamic executable") || strings.Contains(text, "statically linked") {
		return nil, nil
	}
	if err != nil {
		return nil, &lddError{binary: binary, out: text, err: err}
	}
	var files []file
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		var p string
		switch {
		case len(fields) >= 3 && fields[1] == "=>" && strings.HasPrefix(fields[2], "/"):
			p = fields[2]
		case len(fields) >= 1 && strings.HasPrefix(fields[0], "/"):
			p = fields[0] // the interpreter
		default:
			continue // linux-vdso, which the kernel provides
		}
		files = append(files, file{src: p, dst: p, mode: 0o755})
	}
	return files, nil
}

type lddError struct {
	binary, out string
	err         error
}

func (e *lddError) Error() string { return "ldd " + e.binary + ": " + e.err.Error() + ": " + e.out }
