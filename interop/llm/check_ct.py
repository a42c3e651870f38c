#!/usr/bin/python3
"""Checks a compressed-tensors folder written by qscript (recipes/llm.lua) against the
reference semantics, independently of qscript's Go code:

  * every code, scale and zero point of every quantized layer, recomputed from the input
    folder's bf16 weights by the torch port of compressed-tensors' numerics
    (scripts/fixtures/ct_reference.py), bit for bit, after unpacking with the port's
    unpack_from_int32; dequantized weights equal the port's dequantize;
  * config.json field by field: the input's keys unchanged, quantization_config as
    compressed-tensors 0.12.2 serializes it (ModelCompressor.update_config,
    QuantizationConfig/QuantizationScheme/QuantizationArgs.model_dump), each group's
    weights/input_activations equal to the preset restated below from
    compressed_tensors/quantization/quant_scheme.py (PRESET_SCHEMES) with the
    QuantizationArgs validator's defaults, the format as config/format.py's
    _get_quant_compression_format chooses it;
  * which module gets which group, as compressed-tensors' apply_quantization_config +
    match_targets decide (exact names, then regexes, sorted; then class names);
  * the vLLM port (vllm_port.py) accepts the config and picks the expected scheme class for
    every vLLM layer, and the tensors it would load are there with the right shapes;
  * unquantized tensors byte-identical to the input, the index consistent, every other
    file copied byte for byte.

    check_ct.py OUT IN 'SPEC'   SPEC: JSON {"default": "W4A16", "group_size": 0,
                                "overrides": [[["re:.*down_proj"], "W8A16"]], "ignore": []}
Prints one summary line; exits 1 on the first mismatch.
"""
import json
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "fixtures"))
sys.path.insert(0, HERE)
import ct_reference as ct  # noqa: E402
import safetensors_reader as st  # noqa: E402
import vllm_port  # noqa: E402


def args(num_bits, typ, symmetric, strategy, group_size=None, dynamic=False):
    # QuantizationArgs defaults and its validator: observer "minmax" unless dynamic (None).
    return {"num_bits": num_bits, "type": typ, "symmetric": symmetric, "group_size": group_size,
            "strategy": strategy, "block_structure": None, "dynamic": dynamic, "actorder": None,
            "observer": None if dynamic else "minmax", "observer_kwargs": {}}


# PRESET_SCHEMES (quant_scheme.py), restated; W8A16_FP8 is FP8_DYNAMIC's weights alone.
PRESETS = {
    "W8A16": (args(8, "int", True, "channel"), None),
    "W4A16": (args(4, "int", True, "group", 128), None),
    "W4A16_ASYM": (args(4, "int", False, "group", 128), None),
    "W8A8": (args(8, "int", True, "channel"), args(8, "int", True, "token", dynamic=True)),
    "FP8_DYNAMIC": (args(8, "float", True, "channel"), args(8, "float", True, "token", dynamic=True)),
    "W8A16_FP8": (args(8, "float", True, "channel"), None),
}
EXPECTED_VLLM = {"W8A16": "CompressedTensorsWNA16", "W4A16": "CompressedTensorsWNA16",
                 "W4A16_ASYM": "CompressedTensorsWNA16", "W8A8": "CompressedTensorsW8A8Int8",
                 "FP8_DYNAMIC": "CompressedTensorsW8A8Fp8", "W8A16_FP8": "CompressedTensorsW8A16Fp8"}


def fail(msg):
    print("check_ct: FAIL: " + msg)
    sys.exit(1)


def quant_format(w, i):
    """config/format.py _get_quant_compression_format (no sparsity)."""
    if w["num_bits"] == 4 and w["type"] == "float":
        return "nvfp4-pack-quantized"
    if i is None:
        if w["num_bits"] in (4, 8) and w["type"] == "int":
            return "pack-quantized"
        return "naive-quantized"
    if w["type"] == "float" and w["num_bits"] == 8:
        return "float-quantized"
    if w["type"] == "int":
        return "int-quantized"
    return "naive-quantized"


def read_folder(d):
    """All tensors of a folder (single file or index, or a pytorch_model.bin), name ->
    st.Tensor, and the index."""
    bin_path = os.path.join(d, "pytorch_model.bin")
    if os.path.exists(bin_path) and not os.path.exists(os.path.join(d, "model.safetensors")):
        names = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32"}
        out = {}
        for n, t in torch.load(bin_path).items():
            t = t.contiguous()
            raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
            out[n] = st.Tensor(names[t.dtype], list(t.shape), raw)
        return out, None
    idx_path = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx_path):
        idx = json.load(open(idx_path))
        out = {}
        for shard in sorted(set(idx["weight_map"].values())):
            meta, ts = st.read(os.path.join(d, shard))
            for n, t in ts.items():
                if idx["weight_map"].get(n) != shard:
                    fail("%s is in %s, the index says %s" % (n, shard, idx["weight_map"].get(n)))
                out[n] = t
        if set(out) != set(idx["weight_map"]):
            fail("index and shards disagree: %s" % sorted(set(out) ^ set(idx["weight_map"])))
        size = sum(len(t.raw) for t in out.values())
        if idx["metadata"].get("total_size") != size and "qscript" in d:
            fail("total_size %s, shards hold %d" % (idx["metadata"].get("total_size"), size))
        return out, idx
    meta, ts = st.read(os.path.join(d, "model.safetensors"))
    return ts, None


def torch_of(t):
    if t.dtype == "BF16":
        return torch.frombuffer(bytearray(t.raw), dtype=torch.int16).view(torch.bfloat16).reshape(t.shape)
    dt = {"F16": torch.float16, "F32": torch.float32, "I32": torch.int32, "I64": torch.int64,
          "I8": torch.int8, "U8": torch.uint8, "F8_E4M3": torch.uint8}[t.dtype]
    return torch.frombuffer(bytearray(t.raw), dtype=dt).reshape(t.shape)


def module_class(name, shape):
    # How qscript and a transformers Llama agree on classes: 2-D weights are Linear,
    # embed_tokens is an Embedding, 1-D weights are norms.
    if len(shape) == 1:
        return "LlamaRMSNorm"
    return "Embedding" if "embed" in name else "Linear"


def ct_scheme_for(name, cls, groups, ignore):
    """apply_quantization_config: target_to_scheme in config order (later wins), ignore
    first, then match_targets' priority."""
    t2s = {}
    for g in groups.values():
        for t in g["targets"]:
            t2s[t] = g

    def name_match(t):
        return re.match(t[3:], name) is not None if t.startswith("re:") else t == name

    if any(name_match(t) or t == cls for t in ignore):
        return None
    ordered = sorted(t2s, key=lambda x: ("re:" in x, x))
    matched = [t for t in ordered if name_match(t)] + [t for t in ordered if t == cls and not name_match(t)]
    return t2s[matched[0]] if matched else None


def check_layer(mod, g, src, outs):
    w = torch_of(src)
    rows, cols = w.shape
    wa = g["weights"]
    bits, is_float, sym = wa["num_bits"], wa["type"] == "float", wa["symmetric"]
    gs = wa["group_size"] if wa["strategy"] == "group" else 0
    codes, scale, zp = ct.quantize_weight(w, bits, is_float, sym, gs)
    p = mod + "."
    got_scale = torch_of(outs[p + "weight_scale"])
    if got_scale.dtype != scale.dtype or not torch.equal(got_scale.view(torch.int16) if scale.dtype == torch.bfloat16 else got_scale,
                                                         scale.view(torch.int16) if scale.dtype == torch.bfloat16 else scale):
        fail("%s: weight_scale differs" % mod)
    fmt = g["format"]
    if fmt == "pack-quantized":
        shape = torch_of(outs[p + "weight_shape"])
        if shape.tolist() != [rows, cols]:
            fail("%s: weight_shape %s" % (mod, shape.tolist()))
        got = ct.unpack_from_int32(torch_of(outs[p + "weight_packed"]), bits, (rows, cols))
        if not torch.equal(ct.pack_to_int32(codes, bits), torch_of(outs[p + "weight_packed"])):
            fail("%s: weight_packed words differ from pack_to_int32" % mod)
        got_zp = None
        if not sym:
            got_zp = ct.unpack_from_int32(torch_of(outs[p + "weight_zero_point"]), bits, (rows, scale.shape[1]), packed_dim=0)
        elif p + "weight_zero_point" in outs:
            fail("%s: symmetric packed weight has a zero point" % mod)
    else:
        t = outs[p + "weight"]
        want_dt = "F8_E4M3" if is_float else "I8"
        if t.dtype != want_dt:
            fail("%s: weight is %s, want %s" % (mod, t.dtype, want_dt))
        got = torch_of(t)
        got_zp = torch_of(outs[p + "weight_zero_point"]) if not sym else None
    if not torch.equal(got, codes):
        diff = (got != codes).nonzero()[0].tolist()
        fail("%s: codes differ at %s: %d vs %d" % (mod, diff, got[tuple(diff)], codes[tuple(diff)]))
    if zp is not None and not torch.equal(got_zp, zp):
        fail("%s: zero points differ" % mod)
    deq = ct.dequantize(got, got_scale, got_zp, is_float, gs)
    ref = ct.dequantize(codes, scale, zp, is_float, gs)
    if not torch.equal(deq.view(torch.int16), ref.view(torch.int16)):
        fail("%s: dequantized weights differ" % mod)
    return rows * cols


def check_config(cfg_in, cfg_out, spec):
    for k, v in cfg_in.items():
        if cfg_out.get(k) != v:
            fail("config.json key %s changed" % k)
    if set(cfg_out) - set(cfg_in) != {"quantization_config"}:
        fail("config.json gained keys %s" % sorted(set(cfg_out) - set(cfg_in)))
    qc = cfg_out["quantization_config"]
    want_top = {"version": "0.12.2", "quant_method": "compressed-tensors", "sparsity_config": {},
                "transform_config": {}, "kv_cache_scheme": None, "quantization_status": "compressed",
                "global_compression_ratio": None}
    for k, v in want_top.items():
        if qc.get(k) != v:
            fail("quantization_config.%s = %r, want %r" % (k, qc.get(k), v))
    expected_keys = set(want_top) | {"config_groups", "format", "ignore"}
    if set(qc) != expected_keys:
        fail("quantization_config keys %s" % sorted(qc))
    gs = spec.get("group_size", 0)
    wanted = [(None, spec["default"])] + [(tuple(t), s) for t, s in spec.get("overrides", [])]
    schemes = []
    for targets, name in wanted:
        w, i = PRESETS[name]
        w = dict(w)
        if gs and targets is None and w["type"] == "int":
            w["strategy"], w["group_size"] = ("channel", None) if gs == -1 else ("group", gs)
        schemes.append((list(targets) if targets else ["Linear"], name, w, i))
    formats = []
    for gname, g in qc["config_groups"].items():
        if set(g) != {"targets", "weights", "input_activations", "output_activations", "format"}:
            fail("%s keys %s" % (gname, sorted(g)))
        hit = [s for s in schemes if s[0] == g["targets"]]
        if not hit:
            fail("%s targets %s not asked for" % (gname, g["targets"]))
        _, name, w, i = hit[0]
        if g["weights"] != w or g["input_activations"] != i or g["output_activations"] is not None:
            fail("%s (%s): %s / %s differ from the preset %s / %s" % (gname, name, g["weights"], g["input_activations"], w, i))
        if g["format"] != quant_format(w, i):
            fail("%s format %s, infer_module_format gives %s" % (gname, g["format"], quant_format(w, i)))
        formats.append(g["format"])
    top = formats[0] if len(set(formats)) == 1 else "mixed-precision"
    if qc["format"] != top:
        fail("format %s, want %s" % (qc["format"], top))
    return qc


def main():
    out, inp, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    cfg_in = json.load(open(os.path.join(inp, "config.json")))
    cfg_out = json.load(open(os.path.join(out, "config.json")))
    qc = check_config(cfg_in, cfg_out, spec)
    raw = open(os.path.join(out, "config.json")).read()
    if raw != json.dumps(cfg_out, indent=2, sort_keys=True):
        fail("config.json is not byte for byte what json.dump(indent=2, sort_keys=True) writes (update_config)")
    idx_path = os.path.join(out, "model.safetensors.index.json")
    if os.path.exists(idx_path):
        raw = open(idx_path).read()
        if raw != json.dumps(json.loads(raw), indent=2, sort_keys=True) + "\n":
            fail("the index is not byte for byte what transformers' save_pretrained writes")
    src, _ = read_folder(inp)
    outs, idx = read_folder(out)
    groups = qc["config_groups"]
    ignore = qc["ignore"]
    if cfg_in.get("architectures", [""])[0].endswith("ForCausalLM") and "lm_head" not in ignore:
        fail("lm_head not in ignore")
    expected_out = set()
    checked, params = 0, 0
    quantized_classes = set()
    for name, t in sorted(src.items()):
        mod = name[: -len(".weight")] if name.endswith(".weight") else None
        cls = module_class(name, t.shape)
        g = ct_scheme_for(mod, cls, groups, ignore) if mod and cls in ("Linear", "Embedding") else None
        if g is None:
            if name not in outs or outs[name].dtype != t.dtype or outs[name].raw != t.raw:
                fail("%s not copied unchanged" % name)
            expected_out.add(name)
            continue
        quantized_classes.add(cls)
        params += check_layer(mod, g, t, outs)
        checked += 1
        fmt = g["format"]
        names = {"pack-quantized": ["weight_packed", "weight_scale", "weight_shape"]}.get(fmt, ["weight", "weight_scale"])
        if fmt == "pack-quantized" and not g["weights"]["symmetric"]:
            names.append("weight_zero_point")
        expected_out |= {mod + "." + n for n in names}
    if set(outs) != expected_out:
        fail("output tensors differ from what compressed-tensors writes: %s" % sorted(set(outs) ^ expected_out)[:8])
    # ignore = every module of a quantized class left unquantized (QuantizationConfig.from_pretrained)
    left = sorted(n[:-7] for n, t in src.items() if n.endswith(".weight") and module_class(n, t.shape) in quantized_classes
                  and ct_scheme_for(n[:-7], module_class(n, t.shape), groups, []) is None or n[:-7] in ignore)
    if cfg_in.get("tie_word_embeddings") and "lm_head" not in left:
        left.append("lm_head")
    if sorted(ignore) != sorted(set(left)):
        fail("ignore %s, compressed-tensors lists %s" % (ignore, sorted(set(left))))
    # vLLM
    counts = {}
    for layer, cls in vllm_port.vllm_llama_layers(cfg_in["num_hidden_layers"]):
        sch = vllm_port.get_scheme(qc, layer, cls)
        shard = layer.replace("qkv_proj", "q_proj").replace("gate_up_proj", "gate_proj")
        g = ct_scheme_for(shard, "Linear", groups, ignore)
        if g is None:
            if sch is not None:
                fail("vLLM quantizes %s, which is ignored" % layer)
            continue
        preset = [n for n, (w, i) in PRESETS.items() if w["type"] == g["weights"]["type"] and w["num_bits"] == g["weights"]["num_bits"]
                  and w["symmetric"] == g["weights"]["symmetric"] and (i is None) == (g["input_activations"] is None)]
        want = EXPECTED_VLLM[preset[0]]
        if sch is None or sch[0] != want:
            fail("vLLM picks %s for %s, want %s" % (sch, layer, want))
        if sch[0] == "CompressedTensorsWNA16" and (sch[1]["num_bits"] != g["weights"]["num_bits"] or sch[1]["group_size"] != g["weights"]["group_size"]):
            fail("vLLM WNA16 args %s for %s" % (sch[1], layer))
        counts[sch[0]] = counts.get(sch[0], 0) + 1
    # every other file copied
    copied = 0
    for f in os.listdir(inp):
        if f.endswith(".safetensors") or f.endswith(".index.json") or f.endswith(".bin") or f == "config.json":
            continue
        if open(os.path.join(inp, f), "rb").read() != open(os.path.join(out, f), "rb").read():
            fail("%s not copied byte for byte" % f)
        copied += 1
    print("check_ct: ok: %d layers (%d weights) bit-exact (codes, scales, zero points, dequantized), config %s field by field, "
          "vLLM port: %s, %d files copied, %d shard(s)" % (checked, params, qc["format"],
                                                           ", ".join("%s x%d" % kv for kv in sorted(counts.items())), copied,
                                                           len(set(idx["weight_map"].values())) if idx else 1))


if __name__ == "__main__":
    main()
