package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// tinyLlama writes a small Llama-like folder: bf16, GQA (k/v smaller than q), two shards
// with an index, tokenizer and generation files.
func tinyLlama(t testing.TB, dir string, hidden, inter, layers int, tied bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	type tw struct {
		name  string
		shape []int
	}
	vocab, kv := 64, hidden/2
	var ws []tw
	ws = append(ws, tw{"model.embed_tokens.weight", []int{vocab, hidden}})
	for i := range layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		ws = append(ws, tw{p + "self_attn.q_proj.weight", []int{hidden, hidden}}, tw{p + "self_attn.k_proj.weight", []int{kv, hidden}},
			tw{p + "self_attn.v_proj.weight", []int{kv, hidden}}, tw{p + "self_attn.o_proj.weight", []int{hidden, hidden}},
			tw{p + "mlp.gate_proj.weight", []int{inter, hidden}}, tw{p + "mlp.up_proj.weight", []int{inter, hidden}},
			tw{p + "mlp.down_proj.weight", []int{hidden, inter}}, tw{p + "input_layernorm.weight", []int{hidden}},
			tw{p + "post_attention_layernorm.weight", []int{hidden}})
	}
	ws = append(ws, tw{"model.norm.weight", []int{hidden}})
	if !tied {
		ws = append(ws, tw{"lm_head.weight", []int{vocab, hidden}})
	}
	half := len(ws) / 2
	weightMap := map[string]string{}
	for s, part := range [][]tw{ws[:half], ws[half:]} {
		name := fmt.Sprintf("model-%05d-of-00002.safetensors", s+1)
		var infos []tensor.Info
		for _, w := range part {
			infos = append(infos, tensor.Info{Name: w.name, DType: tensor.BF16, Shape: w.shape})
			weightMap[w.name] = name
		}
		sw, err := safetensors.Create(filepath.Join(dir, name), infos, map[string]string{"format": "pt"})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range part {
			n, _ := tensor.Numel(w.shape)
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64() * 0.02)
			}
			if err := sw.Write(w.name, tensor.FromF32To(tensor.BF16, w.shape, v)); err != nil {
				t.Fatal(err)
			}
		}
		if err := sw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": weightMap})
	files := map[string]string{
		"model.safetensors.index.json": string(idx),
		"config.json": fmt.Sprintf(`{"architectures": ["LlamaForCausalLM"], "hidden_size": %d, "intermediate_size": %d, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": %d, "rms_norm_eps": 1e-05, "tie_word_embeddings": %v, "torch_dtype": "bfloat16", "vocab_size": %d, "model_type": "llama", "name": "caf\u00e9"}`,
			hidden, inter, layers, tied, vocab),
		"tokenizer.json":         `{"version": "1.0", "model": {"type": "BPE"}}`,
		"tokenizer_config.json":  `{"chat_template": "{{ messages }}"}`,
		"generation_config.json": `{"do_sample": true, "temperature": 0.6}`,
		"README.md":              "# tiny llama\n",
	}
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func open(t testing.TB, dir string) *hf.Folder {
	t.Helper()
	f, err := hf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

func TestWriteFolder(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	tinyLlama(t, in, 256, 512, 2, false)
	os.MkdirAll(filepath.Join(in, "original"), 0o755)
	os.WriteFile(filepath.Join(in, "original", "params.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(in, "pytorch_model.bin"), []byte("not read"), 0o644)
	os.Symlink(filepath.Join(in, "README.md"), filepath.Join(in, "LICENSE"))
	before := snapshot(t, in)
	p, err := Plan(open(t, in), Options{Scheme: "W4A16", Overrides: []Override{{Targets: []string{"re:.*down_proj"}, Scheme: "W8A16"}}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out")
	var calls int
	res, err := p.Write(context.Background(), out, WriteOptions{MaxShardSize: 400_000, Progress: func(Progress) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(before, snapshot(t, in)) {
		t.Fatal("the input folder changed")
	}
	if len(res.Shards) < 2 || calls != len(p.Folder.Tensors()) {
		t.Fatalf("shards %v, progress calls %d", res.Shards, calls)
	}
	// Sizes print as everywhere else in qscript (report.FormatBytes: binary units).
	sum := p.Summary(res)
	if want := report.FormatBytes(res.InBytes) + " -> " + report.FormatBytes(res.OutBytes) + " of tensor data"; !strings.Contains(sum, want) ||
		strings.Contains(sum, " kB") || strings.Contains(sum, " MB") {
		t.Errorf("summary %q, want %q and binary units", sum, want)
	}
	got := snapshot(t, out)
	if !slices.Equal(res.Skipped, []string{"original (not a regular file)", "pytorch_model.bin (weights)"}) {
		t.Errorf("skipped %q", res.Skipped)
	}
	if got["LICENSE"] != before["README.md"] {
		t.Error("a linked file was not copied")
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "generation_config.json", "README.md"} {
		if got[name] != before[name] {
			t.Errorf("%s not copied unchanged", name)
		}
	}
	// Every shard within the limit (no tensor here is larger), index consistent.
	var idx struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal([]byte(got["model.safetensors.index.json"]), &idx); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range res.Shards {
		f, err := safetensors.OpenFile(filepath.Join(out, s))
		if err != nil {
			t.Fatal(err)
		}
		if f.DataSize() > 400_000 {
			t.Errorf("%s holds %d bytes", s, f.DataSize())
		}
		total += f.DataSize()
		for _, info := range f.Tensors() {
			if idx.WeightMap[info.Name] != s {
				t.Errorf("index puts %s in %q, it is in %s", info.Name, idx.WeightMap[info.Name], s)
			}
		}
		f.Close()
	}
	if idx.Metadata["total_size"] != total {
		t.Errorf("total_size %d, shards hold %d", idx.Metadata["total_size"], total)
	}
	for _, want := range []string{"model.layers.0.self_attn.q_proj.weight_packed", "model.layers.0.mlp.down_proj.weight_packed",
		"model.layers.1.self_attn.k_proj.weight_scale", "lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"} {
		if _, ok := idx.WeightMap[want]; !ok {
			t.Errorf("%s missing", want)
		}
	}
	if _, ok := idx.WeightMap["model.layers.0.self_attn.q_proj.weight"]; ok {
		t.Error("the float q_proj weight is still there")
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(got["config.json"]), &cfg); err != nil {
		t.Fatal(err)
	}
	qc := cfg["quantization_config"].(map[string]any)
	if qc["format"] != "pack-quantized" || qc["quantization_status"] != "compressed" || fmt.Sprint(qc["ignore"]) != "[lm_head]" {
		t.Errorf("quantization_config %v", qc)
	}
	groups := qc["config_groups"].(map[string]any)
	if len(groups) != 2 {
		t.Fatalf("groups %v", groups)
	}
	if !strings.Contains(got["config.json"], `"name": "caf\u00e9"`) || !strings.Contains(got["config.json"], `"rms_norm_eps": 1e-05`) {
		t.Error("config.json not written as Python's json.dump(sort_keys=True, indent=2) would")
	}
	if m, err := readManifest(out); err != nil || !slices.Contains(m, "config.json") || len(m) != len(got)-1 {
		t.Errorf("manifest %v (%v) for %d files", m, err, len(got))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestBusyFolderRefused(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	tinyLlama(t, in, 128, 256, 1, true)
	out := filepath.Join(root, "out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "config.json"), []byte("mine"), 0o644)
	before := snapshot(t, out)
	p, err := Plan(open(t, in), Options{Scheme: "W8A8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ow := range []bool{false, true} {
		_, err = p.Write(context.Background(), out, WriteOptions{Overwrite: ow})
		if err == nil || !strings.Contains(err.Error(), "did not write") {
			t.Fatalf("overwrite=%v: %v", ow, err)
		}
		if !mapsEqual(before, snapshot(t, out)) {
			t.Fatal("the user's folder changed")
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 {
		t.Fatalf("left behind: %v", entries)
	}
	// A folder qscript wrote: refused without overwrite, replaced with it, and a user file
	// added since is kept.
	out2 := filepath.Join(root, "out2")
	if _, err := p.Write(context.Background(), out2, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out2, "notes.txt"), []byte("keep"), 0o644)
	if _, err := p.Write(context.Background(), out2, WriteOptions{}); err == nil || !strings.Contains(err.Error(), "overwrite=true") {
		t.Fatalf("rewrite without overwrite: %v", err)
	}
	p2, _ := Plan(open(t, in), Options{Scheme: "FP8_DYNAMIC"})
	if _, err := p2.Write(context.Background(), out2, WriteOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out2, "notes.txt")); string(b) != "keep" {
		t.Fatal("user file lost")
	}
	if b, _ := os.ReadFile(filepath.Join(out2, "config.json")); !strings.Contains(string(b), "float-quantized") {
		t.Fatal("config not replaced")
	}
	// Inside the input, or the input itself.
	for _, bad := range []string{in, filepath.Join(in, "sub"), root} {
		if _, err := p.Write(context.Background(), bad, WriteOptions{Overwrite: true}); err == nil {
			t.Errorf("out %s accepted", bad)
		}
	}
}

func TestPlanErrors(t *testing.T) {
	root := t.TempDir()
	tinyLlama(t, root, 128, 256, 1, true)
	f := open(t, root)
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Scheme: "FP8"}, "static"},
		{Options{Scheme: "W4A61"}, `did you mean "W4A16"`},
		{Options{Ignore: []string{"model.layers.0.mlp.down_prj"}}, `closest: "model.layers.0.mlp.down_proj"`},
		{Options{Overrides: []Override{{Targets: []string{"re:.*dwn_proj"}, Scheme: "W8A16"}}}, "matches no module"},
		{Options{Targets: []string{"Linear", "lm_head"}}, "tie_word_embeddings"},
		{Options{Scheme: "W4A16", GroupSize: 96}, "groups of 96"},
		{Options{Overrides: []Override{{Targets: []string{"re:.*q_proj"}, Scheme: "W8A16"}}}, "vLLM fuses q_proj, k_proj, v_proj"},
		{Options{Ignore: []string{"model.layers.0.mlp.up_proj"}}, "vLLM fuses gate_proj, up_proj"},
	} {
		_, err := Plan(f, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	// lm_head is ignored by default even though a tied model has none.
	p, err := Plan(f, Options{Ignore: []string{"re:.*layers\\.0\\.mlp.*"}, Overrides: []Override{{Targets: []string{"re:.*[qkv]_proj"}, Scheme: "W8A8"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Ignore, "lm_head") || !slices.Contains(p.Ignore, "model.layers.0.mlp.up_proj") {
		t.Fatalf("ignore %v", p.Ignore)
	}
}

// TestKilledWriteLeavesNoFolder runs a write in a child process, kills it with SIGKILL
// while it writes, and checks that no output folder appeared.
func TestKilledWriteLeavesNoFolder(t *testing.T) {
	if dir := os.Getenv("LLM_CHILD_WRITE"); dir != "" {
		f, err := hf.Open(filepath.Join(dir, "in"))
		if err != nil {
			os.Exit(2)
		}
		p, err := Plan(f, Options{Scheme: "W4A16_ASYM"})
		if err != nil {
			os.Exit(2)
		}
		started := false
		p.Write(context.Background(), filepath.Join(dir, "out"), WriteOptions{MaxShardSize: 100_000, Progress: func(pr Progress) {
			if !started {
				started = true
				os.WriteFile(filepath.Join(dir, "started"), nil, 0o644)
			}
			time.Sleep(20 * time.Millisecond) // slow enough to be killed mid-write
		}})
		os.Exit(0)
	}
	root := t.TempDir()
	tinyLlama(t, filepath.Join(root, "in"), 256, 512, 4, false)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriteLeavesNoFolder$")
	cmd.Env = append(os.Environ(), "LLM_CHILD_WRITE="+root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(root, "started")); err == nil {
			break
		}
		if i > 3000 {
			cmd.Process.Kill()
			t.Fatalf("child never started: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(root, "out")); !os.IsNotExist(err) {
		t.Fatalf("out exists after kill -9: %v", err)
	}
	// The killed writer's temporary folder is removed by the next write.
	leftovers := func() (n int) {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".out.tmp-qs") {
				n++
			}
		}
		return n
	}
	if leftovers() != 1 {
		t.Fatalf("%d temporary folders after the kill, want 1", leftovers())
	}
	p, err := Plan(open(t, filepath.Join(root, "in")), Options{Scheme: "W8A16"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(context.Background(), filepath.Join(root, "out"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if leftovers() != 0 {
		t.Fatal("the dead writer's temporary folder is still there")
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	if NewBar(&buf) != nil {
		t.Fatal("a bar on a buffer (not a terminal)")
	}
	var nilBar *Bar
	nilBar.Update(Progress{})
	nilBar.Finish()
	b := newBar(&buf, time.Now().Add(-2*time.Second))
	b.Update(Progress{Tensors: 3, TotalTensors: 10, Bytes: 300 << 20, TotalBytes: 1 << 30})
	b.Finish()
	if s := buf.String(); !strings.Contains(s, "3/10 tensors") || !strings.Contains(s, "300 MiB/1.00 GiB") || !strings.Contains(s, "ETA") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("bar %q", s)
	}
	quiet := newBar(&buf, time.Now())
	buf.Reset()
	quiet.Update(Progress{Tensors: 1, TotalTensors: 2})
	quiet.Finish()
	if buf.Len() != 0 {
		t.Fatalf("a run shorter than a second drew %q", buf.String())
	}
}

// TestCheckPlacement: each refusal names the output and the input.
func TestCheckPlacement(t *testing.T) {
	in := t.TempDir()
	for _, c := range []struct{ out, want string }{
		{in, in + ": that is an input (" + in + "); write to another path"},
		{filepath.Join(in, "sub"), filepath.Join(in, "sub") + ": it lies inside the input folder " + in + "; write to another folder"},
		{filepath.Dir(in), filepath.Dir(in) + ": holds the input folder " + in + "; write to another folder"},
	} {
		if err := checkPlacement(c.out, in); err == nil || err.Error() != c.want {
			t.Errorf("out %s: %v\nwant %s", c.out, err, c.want)
		}
	}
	if err := checkPlacement(filepath.Join(t.TempDir(), "out"), in); err != nil {
		t.Errorf("a folder elsewhere: %v", err)
	}
}
