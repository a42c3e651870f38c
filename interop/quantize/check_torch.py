#!/usr/bin/python3
"""Checks qscript's quantized digits CNN outputs against real PyTorch 1.13 (issue 5
acceptance 1-3). Called by interop/70-quantize-torch.sh with the folder of outputs:

    check_torch.py DIR

DIR holds the outputs of the built-in recipes: int8.safetensors (int8_dynamic.lua, compressed,
skip=first_conv), int8.pt (same, .pt), fake.safetensors (layout=fake), fp16.safetensors and
fp16.pt (fp16.lua), bf16.safetensors (bf16.lua), and int8.inspect.json (`qscript inspect --json`
of int8.safetensors). Prints one line per check and exits 1 on any mismatch.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts", "fixtures"))
import safetensors_reader as st  # noqa: E402
from digits_cnn_model import DigitsCNN  # noqa: E402

SRC = os.path.join(REPO, "examples", "models", "digits_cnn.pt")
QUANTIZED = ["conv2", "conv3", "fc1", "fc2"]
failures = []


def fail(msg):
    failures.append(msg)
    print("  FAIL", msg)


section_start = 0


def done(summary):
    """Prints a section's summary line, marked FAIL when the section recorded a failure."""
    global section_start
    print(("  ok  " if len(failures) == section_start else "  FAIL") + " " + summary)
    section_start = len(failures)


def torch_of(t):
    """A safetensors_reader tensor as a torch tensor, exact bits."""
    if t.dtype == "BF16":
        a = np.frombuffer(t.raw, dtype=np.int16).reshape(t.shape).copy()
        return torch.from_numpy(a).view(torch.bfloat16)
    a = np.frombuffer(t.raw, dtype=st.NUMPY[t.dtype]).reshape(t.shape).copy()
    return torch.from_numpy(a)


def read(path):
    meta, tensors = st.read(path)
    return meta, {k: torch_of(v) for k, v in tensors.items()}



src = torch.load(SRC, map_location="cpu", weights_only=True)

# (a) int8 codes and scales equal torch's PerChannelMinMaxObserver + quantize_per_channel.
meta, q = read(os.path.join(sys.argv[1], "int8.safetensors"))
for name in QUANTIZED:
    w = src[name + ".weight"]
    obs = torch.ao.quantization.PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    obs(w)
    scale, zp = obs.calculate_qparams()
    codes = torch.quantize_per_channel(w, scale.double(), zp, 0, torch.qint8).int_repr()
    got = q[name + ".weight"]
    if got.dtype != torch.int8 or not torch.equal(got, codes):
        fail(f"{name}: codes differ from torch ({(got.int() != codes.int()).sum().item()} of {codes.numel()})")
    gs = q[name + ".weight_scale"]
    want_shape = (w.shape[0],) + (1,) * (w.dim() - 1)
    if gs.dtype != torch.float32 or tuple(gs.shape) != want_shape or not torch.equal(gs.reshape(-1), scale.float()):
        fail(f"{name}: weight_scale {tuple(gs.shape)} {gs.dtype} differs from torch's scales")
    if (zp != 0).any() or (name + ".weight_zero_point") in q:
        fail(f"{name}: zero points")
for name in ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.num_batches_tracked", "fc1.bias"]:
    if not torch.equal(q[name], src[name]) or q[name].dtype != src[name].dtype:
        fail(f"{name} is not the original")
cfg = json.loads(meta["quantization_config"])
rec = json.loads(meta["quantization"])
if cfg["format"] != "int-quantized" or cfg["ignore"] != ["conv1"] or rec["layers_quantized"] != QUANTIZED:
    fail(f"metadata: {meta}")
# torch's dynamic quantization, as compressed-tensors' W8A8 preset states it: int8 activations
# quantized per token at run time, symmetric, no observer (vLLM needs them for int-quantized).
want_in = {"num_bits": 8, "type": "int", "symmetric": True, "strategy": "token", "group_size": None, "dynamic": True, "observer": None}
if cfg["config_groups"]["group_0"]["input_activations"] != want_in:
    fail(f"input_activations {cfg['config_groups']['group_0']['input_activations']}, want {want_in}")
done(f"(a) int8 codes and weight_scale of {', '.join(QUANTIZED)} equal torch's PerChannelMinMaxObserver + quantize_per_channel bit for bit; conv1 float")

# (e) `qscript inspect --json` shows the compressed-tensors layout and the metadata.
with open(os.path.join(sys.argv[1], "int8.inspect.json")) as fh:
    shown = json.load(fh)
dtypes = {t["name"]: (t["dtype"], t["shape"]) for t in shown["tensors"]}
for name in QUANTIZED:
    w = list(src[name + ".weight"].shape)
    if dtypes.get(name + ".weight") != ("I8", w):
        fail(f"inspect: {name}.weight is {dtypes.get(name + '.weight')}, want I8 {w}")
    want_scale = [w[0]] + [1] * (len(w) - 1)
    if dtypes.get(name + ".weight_scale") != ("F32", want_scale):
        fail(f"inspect: {name}.weight_scale is {dtypes.get(name + '.weight_scale')}, want F32 {want_scale}")
if dtypes.get("conv1.weight") != ("F32", list(src["conv1.weight"].shape)):
    fail(f"inspect: conv1.weight is {dtypes.get('conv1.weight')}, want F32")
shown_rec, shown_cfg = shown.get("quantization") or {}, shown.get("quantization_config") or {}
skipped = [s["name"] for s in shown_rec.get("layers_skipped", [])]
if shown_rec.get("layers_quantized") != QUANTIZED or "conv1" not in skipped or shown_rec.get("layout") != "compressed":
    fail(f"inspect: quantization record {shown_rec}")
if shown_cfg.get("quant_method") != "compressed-tensors" or shown_cfg.get("format") != "int-quantized" \
        or "conv1" not in shown_cfg.get("ignore", []):
    fail(f"inspect: quantization_config {shown_cfg}")
weights = shown_cfg.get("config_groups", {}).get("group_0", {}).get("weights", {})
if weights.get("num_bits") != 8 or weights.get("strategy") != "channel" or weights.get("symmetric") is not True:
    fail(f"inspect: quantization_config weights {weights}")
if json.loads(shown["metadata"]["quantization_config"]) != cfg:
    fail("inspect: quantization_config differs from the file's metadata")
done(f"(e) qscript inspect --json: {', '.join(QUANTIZED)} weight I8 + weight_scale F32 [out, 1...], conv1.weight F32; "
     f"quantization record skips {skipped}; quantization_config {shown_cfg['format']}, ignore {shown_cfg['ignore']}")

# (d) the .pt output loads with weights_only=True and equals the safetensors output.
pt = torch.load(os.path.join(sys.argv[1], "int8.pt"), map_location="cpu", weights_only=True)
if set(pt) != set(q):
    fail(f".pt names {sorted(set(pt) ^ set(q))}")
for k, v in q.items():
    if k in pt and (pt[k].dtype != v.dtype or not torch.equal(pt[k], v)):
        fail(f".pt tensor {k} differs")
pt16 = torch.load(os.path.join(sys.argv[1], "fp16.pt"), map_location="cpu", weights_only=True)
_, st16 = read(os.path.join(sys.argv[1], "fp16.safetensors"))
for k, v in st16.items():
    if pt16[k].dtype != v.dtype or not torch.equal(pt16[k], v):
        fail(f"fp16 .pt tensor {k} differs")
done(f"(d) int8.pt and fp16.pt load with torch.load(weights_only=True) and equal the safetensors outputs ({len(pt)} and {len(pt16)} tensors)")

# (c) fp16 / bf16 casts equal tensor.half() / tensor.bfloat16().
for kind, cast in (("fp16", torch.Tensor.half), ("bf16", torch.Tensor.bfloat16)):
    _, c = read(os.path.join(sys.argv[1], kind + ".safetensors"))
    for k, v in src.items():
        want = cast(v) if v.is_floating_point() else v
        if c[k].dtype != want.dtype or not torch.equal(c[k].view(-1), want.view(-1)) or c[k].shape != want.shape:
            fail(f"{kind}: {k} differs from torch's cast")
    model = DigitsCNN()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in c.items()}, strict=True)
done("(c) fp16 and bf16 outputs equal tensor.half() / tensor.bfloat16() for every float tensor; integer tensors untouched")

# (b) the fake layout loads strictly into the original module; accuracy within 0.5 points.
def accuracy(path):
    out = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "fixtures", "eval_torch.py"), path],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["accuracy"]

fake = os.path.join(sys.argv[1], "fake.safetensors")
_, f = read(fake)
for k, v in src.items():
    if f[k].dtype != v.dtype or f[k].shape != v.shape:
        fail(f"fake: {k} is {f[k].dtype} {tuple(f[k].shape)}")
acc_float, acc_fake = accuracy(SRC), accuracy(fake)
if abs(acc_float - acc_fake) > 0.005:
    fail(f"fake accuracy {acc_fake:.4f} vs float {acc_float:.4f}")
done(f"(b) layout=fake loads with load_state_dict(strict=True): accuracy {acc_fake:.4f} vs float {acc_float:.4f}")

sys.exit(1 if failures else 0)
