package host_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/host"
)

// TestRootConfinesWhatModelsReadThroughLinks: an embedder's Root holds for the files a
// reader finds on its own: the shards named by an index, the images of a folder, the
// config.json beside a model. A symbolic link from inside to outside is refused by name.
func TestRootConfinesWhatModelsReadThroughLinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "sharded"), filepath.Join(root, "images"), filepath.Join(root, "hf")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shards := filepath.Join("..", "formats", "safetensors", "testdata", "real", "sharded")
	copyTo(t, filepath.Join(shards, "model.safetensors.index.json"), filepath.Join(root, "sharded", "model.safetensors.index.json"))
	copyTo(t, filepath.Join(shards, "model-00001-of-00002.safetensors"), filepath.Join(root, "sharded", "model-00001-of-00002.safetensors"))
	copyTo(t, filepath.Join(shards, "model-00002-of-00002.safetensors"), filepath.Join(outside, "secret.safetensors"))
	link(t, filepath.Join(outside, "secret.safetensors"), filepath.Join(root, "sharded", "model-00002-of-00002.safetensors"))

	writePNG(t, filepath.Join(root, "images", "a.png"))
	writePNG(t, filepath.Join(outside, "private.png"))
	link(t, filepath.Join(outside, "private.png"), filepath.Join(root, "images", "b.png"))

	copyTo(t, filepath.Join("..", "examples", "models", "digits_cnn.safetensors"), filepath.Join(root, "hf", "model.safetensors"))
	write(t, filepath.Join(outside, "config.json"), `{"architectures": ["Secret"]}`)
	link(t, filepath.Join(outside, "config.json"), filepath.Join(root, "hf", "config.json"))

	h, _, _ := newHost(t, root, host.Options{Root: root})
	for name, src := range map[string]string{
		"shard":  `require("qs").load("sharded/model.safetensors.index.json")`,
		"image":  `require("qs").data.images("images", {size = 4})`,
		"config": `require("qs").load("hf/model.safetensors")`,
	} {
		_, err := h.RunString(context.Background(), name+".lua", src, nil)
		if err == nil || !strings.Contains(err.Error(), "path is outside the allowed folder") || !strings.Contains(err.Error(), "through a symbolic link") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// The same files, unconfined, load.
	free, _, _ := newHost(t, root, host.Options{})
	if _, err := free.RunString(context.Background(), "shard.lua", `require("qs").load("sharded/model.safetensors.index.json")`, nil); err != nil {
		t.Errorf("without Root: %v", err)
	}
}

func copyTo(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func writePNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
}
