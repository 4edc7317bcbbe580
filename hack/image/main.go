// Command image builds the tenancy OCI image without Docker: a static
// binary per platform (linux/amd64, linux/arm64) on an empty base, with CA
// certificates and a non-root user (65532), as an OCI image layout in a
// tar (oci-layout, index.json, blobs/). The image reference is stamped into
// the binary (internal/install.Image), so `tenancy install` installs the
// image it came in. It is its own module, so that go-containerregistry is
// no dependency of tenancy. Run by `make image`.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	uid     = 65532
	binPath = "usr/local/bin/tenancy"
	// ctrlPath is the controller alone (cmd/tenancy-controller), which the
	// installed controller runs.
	ctrlPath = "usr/local/bin/tenancy-controller"
	certPath = "etc/ssl/certs/ca-certificates.crt"
	// imageVar is the variable the reference is stamped into.
	imageVar = "github.com/tenancy-dev/tenancy/internal/install.Image"
)

func main() {
	ref := flag.String("ref", "ghcr.io/tenancy-dev/tenancy:dev", "image reference, stamped into the binary")
	out := flag.String("out", "bin/tenancy.oci.tar", "the OCI layout tar to write")
	repo := flag.String("repo", "../..", "the tenancy repository")
	certs := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to put in the image")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "comma-separated OS/ARCH list")
	flag.Parse()
	if err := run(*ref, *out, *repo, *certs, *platforms); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ref, out, repo, certs, platforms string) error {
	ca, err := os.ReadFile(certs)
	if err != nil {
		return fmt.Errorf("CA certificates: %w (point --ca-certificates at a PEM bundle)", err)
	}
	work, err := os.MkdirTemp("", "tenancy-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	idx := v1.ImageIndex(empty.Index)
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, p := range splitComma(platforms) {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return err
		}
		var bins []string
		for _, cmd := range []string{"tenancy", "tenancy-controller"} {
			bin := filepath.Join(work, cmd+"-"+plat.OS+"-"+plat.Architecture)
			fmt.Fprintf(os.Stderr, "building %s for %s\n", cmd, p)
			build := exec.Command("go", "build", "-trimpath", "-o", bin,
				"-ldflags", "-s -w -X "+imageVar+"="+ref, "./cmd/"+cmd)
			build.Dir = repo
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+plat.OS, "GOARCH="+plat.Architecture)
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				return fmt.Errorf("build %s for %s: %w", cmd, p, err)
			}
			bins = append(bins, bin)
		}
		img, err := image(bins[0], bins[1], ca, *plat)
		if err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	dir := filepath.Join(work, "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := tarDir(dir, out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s for %s\n", out, ref, platforms)
	return nil
}

// image is the binaries (tenancy, tenancy-controller) on an empty base
// with CA certificates and a non-root user, for plat.
func image(bin, ctrlBin string, ca []byte, plat v1.Platform) (v1.Image, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	ctrlExe, err := os.ReadFile(ctrlBin)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	epoch := time.Unix(0, 0)
	dirs := []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "home/", "tmp/", "usr/", "usr/local/", "usr/local/bin/"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: uid, Gid: uid, ModTime: epoch}); err != nil {
		return nil, err
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid)},
		{"etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", uid)},
		{certPath, 0o644, ca},
		{binPath, 0o755, exe},
		{ctrlPath, 0o755, ctrlExe},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := b.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{"/" + binPath}
	cf.Config.User = fmt.Sprintf("%d:%d", uid, uid)
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot", "SSL_CERT_FILE=/" + certPath}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/tenancy-dev/tenancy"}
	return mutate.ConfigFile(img, cf)
}

// tarDir writes the files of dir, relative to it, into the tar out.
func tarDir(dir, out string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname = filepath.ToSlash(rel), time.Unix(0, 0), 0, 0, "", ""
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.IsDir() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = src.Close() }()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
