#!/usr/bin/python3
"""Checks that vLLM would serve a single .safetensors file that a weight-only recipe
(recipes/int8_dynamic.lua, recipes/int4_weight_only.lua) wrote from a Llama folder:

  * the quantization_config in the file's __metadata__ goes through the port of vLLM's
    CompressedTensorsConfig scheme selection (vllm_port.py) for every LinearBase layer of
    vLLM's LlamaForCausalLM, which must pick the expected scheme class;
  * the tensors are those that scheme's create_weights registers, per unfused checkpoint
    module, with vLLM's dtypes and shapes, restated from vllm-project/vllm
    vllm/model_executor/layers/quantization/compressed_tensors/schemes/
      compressed_tensors_w8a8_int8.py (CompressedTensorsW8A8Int8.create_weights: weight
        int8 [out, in]; weight_scale [out, 1] per channel, one value per tensor; input_scale
        and input_zero_point only for static inputs),
      compressed_tensors_wNa16.py (CompressedTensorsWNA16.create_weights: weight_packed
        int32 [out, in // (32 / bits)], weight_shape int64 [2], weight_scale
        [out, in // group_size] with group_size = in per channel, weight_zero_point int32
        [out // (32 / bits), in // group_size] when asymmetric);
    the shapes come from the input folder's weights, not from the output;
  * lm_head (vLLM's ParallelLMHead, which compressed-tensors never quantizes) is in
    "ignore" and stays the input's float tensor, as does every other tensor, so vLLM's
    load_weights finds no name it has no parameter for.

    check_vllm_file.py OUT.safetensors IN_DIR WANT_CLASS
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "fixtures"))
sys.path.insert(0, HERE)
import safetensors_reader as st  # noqa: E402
import vllm_port  # noqa: E402

FLOATS = {"F32", "F16", "BF16"}


def fail(msg):
    print("check_vllm_file: FAIL: " + msg)
    sys.exit(1)


def read_input(d):
    idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    out = {}
    for shard in sorted(set(idx["weight_map"].values())):
        out.update(st.read(os.path.join(d, shard))[1])
    return out


def expected_tensors(scheme, args, out_n, in_n):
    """name suffix -> (allowed dtypes, shape) that the scheme's create_weights registers."""
    if scheme == "CompressedTensorsW8A8Int8":
        want = {"weight": ({"I8"}, [out_n, in_n]),
                "weight_scale": (FLOATS, [out_n, 1] if args["strategy"] == "channel" else [1])}
        if args["static_input"]:
            want["input_scale"] = (FLOATS, [1])
        return want
    if scheme == "CompressedTensorsWNA16":
        pack = 32 // args["num_bits"]
        group = in_n if args["group_size"] is None else args["group_size"]
        if in_n % group or in_n % pack:
            fail("vLLM needs the input size %d divisible by the group %d and by %d" % (in_n, group, pack))
        want = {"weight_packed": ({"I32"}, [out_n, in_n // pack]), "weight_shape": ({"I64"}, [2]),
                "weight_scale": (FLOATS, [out_n, in_n // group])}
        if not args["symmetric"]:
            want["weight_zero_point"] = ({"I32"}, [out_n // pack, in_n // group])
        return want
    fail("no tensor list for %s" % scheme)


def main():
    path, inp, want_class = sys.argv[1], sys.argv[2], sys.argv[3]
    meta, outs = st.read(path)
    if "quantization_config" not in meta:
        fail("no quantization_config in the metadata")
    qc = json.loads(meta["quantization_config"])
    cfg = json.load(open(os.path.join(inp, "config.json")))
    src = read_input(inp)
    if "lm_head" not in qc.get("ignore", []):
        fail("lm_head is not in ignore %s" % qc.get("ignore"))
    expected = {n: (t.dtype, t.shape) for n, t in src.items()}
    layers = 0
    for layer, cls in vllm_port.vllm_llama_layers(cfg["num_hidden_layers"]):
        try:
            sch = vllm_port.get_scheme(qc, layer, cls)
        except (NotImplementedError, AssertionError, ValueError) as e:
            fail("vLLM refuses %s: %s" % (layer, e))
        if sch is None or sch[0] != want_class:
            fail("vLLM picks %s for %s, want %s" % (sch, layer, want_class))
        fused = next((k for k in vllm_port.FUSED if layer.endswith(k)), None)
        shards = [layer] if fused is None else [layer[: -len(fused)] + s for s in vllm_port.FUSED[fused]]
        for mod in shards:
            out_n, in_n = src[mod + ".weight"].shape
            del expected[mod + ".weight"]
            for suffix, (dtypes, shape) in expected_tensors(sch[0], sch[1], out_n, in_n).items():
                t = outs.get(mod + "." + suffix)
                if t is None or t.dtype not in dtypes or list(t.shape) != shape:
                    got = None if t is None else (t.dtype, t.shape)
                    fail("%s.%s is %s; vLLM's %s registers %s %s" % (mod, suffix, got, sch[0], sorted(dtypes), shape))
                expected[mod + "." + suffix] = (t.dtype, t.shape)
            if sch[0] == "CompressedTensorsWNA16":
                ws = outs[mod + ".weight_shape"]
                if list(st.to_numpy(ws)) != [out_n, in_n]:
                    fail("%s.weight_shape holds %s, want %s" % (mod, list(st.to_numpy(ws)), [out_n, in_n]))
        layers += 1
    got = {n: (t.dtype, list(t.shape)) for n, t in outs.items()}
    expected = {n: (d, list(s)) for n, (d, s) in expected.items()}
    if got != expected:
        diff = sorted(n for n in set(got) | set(expected) if got.get(n) != expected.get(n))
        fail("tensors differ from what vLLM loads: %s" % ["%s: %s, want %s" % (n, got.get(n), expected.get(n)) for n in diff[:6]])
    for n in ("lm_head.weight", "model.embed_tokens.weight"):
        if n in src and outs[n].raw != src[n].raw:
            fail("%s is not the input's" % n)
    print("check_vllm_file: ok: %d vLLM layers -> %s %s; %d tensors as vLLM registers them" % (
        layers, want_class, json.dumps(sch[1], sort_keys=True), len(outs)))


if __name__ == "__main__":
    main()
