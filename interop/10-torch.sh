#!/usr/bin/env bash
# qscript's PyTorch checkpoint reader and writer against the real torch (Debian's 1.13):
#  (a) numpy makes arrays of every dtype it has; qscript writes them to a .pt file (plus
#      bf16/f16 casts and transposed, strided views); torch.load(path, weights_only=True)
#      must return an OrderedDict with the same names, dtypes, shapes and bits.
#  (b) torch.save writes a training checkpoint (nested state_dict, DataParallel prefix,
#      tied weights, storage offsets, non-contiguous views, 0-d and empty tensors, every
#      dtype); qscript reads it and writes safetensors; the independent reader
#      scripts/fixtures/safetensors_reader.py must find torch's tensors, bit for bit.
#  (c) torch.load(weights_only=True) refuses every malicious fixture qscript refuses.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# (a) qscript writes, torch reads.
/usr/bin/python3 - "$tmp/in.npz" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(10)
f32 = rng.standard_normal((7, 5)).astype(np.float32) * 50
f32[0, :5] = [0.0, -0.0, np.inf, -np.inf, 1e-40]
np.savez(sys.argv[1],
    **{"layer.weight": f32,
       "layer.bias": rng.standard_normal(5).astype(np.float32),
       "f64": rng.standard_normal((3, 4)),
       "f16": rng.standard_normal(9).astype(np.float16),
       "i64": np.array([0, -1, 2**63 - 1, -2**63, 123456789012], dtype=np.int64),
       "i32": rng.integers(-2**31, 2**31 - 1, (3, 2), dtype=np.int32),
       "i16": rng.integers(-2**15, 2**15 - 1, 7, dtype=np.int16),
       "i8": rng.integers(-128, 127, (2, 2, 2), dtype=np.int8),
       "u8": rng.integers(0, 255, (4, 3), dtype=np.uint8),
       "flags": rng.standard_normal((2, 3)) > 0,
       "scalar": np.float32(2.5).reshape(()),
       "steps": np.int64(1000).reshape(()),
       "empty": np.zeros((0, 3), dtype=np.float32)})
PY

go run ./interop/torch write "$tmp/in.npz" "$tmp/qscript.pt"

/usr/bin/python3 - "$tmp/in.npz" "$tmp/qscript.pt" <<'PY'
import collections
import sys
import numpy as np
import torch

src = np.load(sys.argv[1])
sd = torch.load(sys.argv[2], weights_only=True)
failures = []
if type(sd) is not collections.OrderedDict:
    failures.append("torch.load returned %s, not an OrderedDict" % type(sd).__name__)

def raw(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()

want_names = []
for name in src.files:
    a = src[name]
    want_names.append(name)
    if a.dtype == np.float32:
        want_names += [name + ".bf16", name + ".f16"]
    if a.ndim == 2:
        want_names.append(name + ".T")
if list(sd) != want_names:
    failures.append("names %s != %s" % (list(sd), want_names))

for name in src.files:
    a = src[name]
    t = sd.get(name)
    if t is None:
        continue
    if str(t.dtype) != "torch." + {"bool": "bool"}.get(a.dtype.name, a.dtype.name) or list(t.shape) != list(a.shape):
        failures.append("%s: %s %s, numpy %s %s" % (name, t.dtype, list(t.shape), a.dtype, a.shape))
    elif raw(t) != np.ascontiguousarray(a).tobytes():
        failures.append("%s: bytes differ" % name)
    if a.ndim == 2 and raw(sd[name + ".T"]) != np.ascontiguousarray(a.T).tobytes():
        failures.append("%s.T: bytes differ from numpy's transpose" % name)
    if a.dtype == np.float32:
        want = torch.from_numpy(a.copy()).bfloat16()
        if sd[name + ".bf16"].dtype != torch.bfloat16 or raw(sd[name + ".bf16"]) != raw(want):
            failures.append("%s.bf16: differs from torch's bfloat16 rounding" % name)
        if sd[name + ".f16"].dtype != torch.float16 or raw(sd[name + ".f16"]) != a.astype(np.float16).tobytes():
            failures.append("%s.f16: differs from numpy's float16 rounding" % name)
if failures:
    print("10-torch (a): FAIL\n  " + "\n  ".join(failures))
    sys.exit(1)
print("10-torch (a): ok, torch.load(weights_only=True) reads %d tensors written by qscript, bit for bit" % len(sd))
PY

# (b) torch writes, qscript converts to safetensors, the spec reader checks.
/usr/bin/python3 - "$tmp/torch.pt" "$tmp/expected.pt" <<'PY'
import collections
import sys
import torch
from torch import nn

torch.manual_seed(10)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 6)
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(6, 11)
        self.head.weight = self.embed.weight  # tied

net = nn.DataParallel(Net())
net.module.bn.train()
net.module.bn(torch.randn(2, 4, 5, 5))
sd = net.state_dict()
base = torch.randn(64)
extra = collections.OrderedDict([
    ("module.views.offset", base[10:30].view(4, 5)),
    ("module.views.transposed", base[:24].view(4, 6).t()),
    ("module.views.column", base[:24].view(4, 6)[:, 3]),
    ("module.views.expanded", torch.randn(1, 3).expand(4, 3)),
    ("module.dtypes.f64", torch.randn(3, dtype=torch.float64)),
    ("module.dtypes.f16", torch.randn(2, 3).half()),
    ("module.dtypes.bf16", torch.randn(3, 2).bfloat16()),
    ("module.dtypes.i64", torch.tensor([-(2**63), 2**63 - 1, 0])),
    ("module.dtypes.i32", torch.tensor([7, -7], dtype=torch.int32)),
    ("module.dtypes.i16", torch.tensor([300, -300], dtype=torch.int16)),
    ("module.dtypes.i8", torch.tensor([-128, 127], dtype=torch.int8)),
    ("module.dtypes.u8", torch.tensor([0, 255], dtype=torch.uint8)),
    ("module.dtypes.bool", torch.tensor([True, False, True])),
    ("module.scalar", torch.tensor(-4.5)),
    ("module.empty", torch.zeros(2, 0)),
])
sd.update(extra)
torch.save({"epoch": 12, "state_dict": sd, "optimizer": {"lr": 0.1}}, sys.argv[1])
# What qscript should report: the state dict without the DataParallel prefix.
torch.save(collections.OrderedDict((k[len("module."):], v) for k, v in sd.items()), sys.argv[2])
PY

go run ./interop/torch tosafetensors "$tmp/torch.pt" "$tmp/out.safetensors"

/usr/bin/python3 - "$tmp/expected.pt" "$tmp/out.safetensors" <<'PY'
import sys
sys.path.insert(0, "scripts/fixtures")
import torch
import safetensors_reader as st

want = torch.load(sys.argv[1], weights_only=True)
meta, tensors = st.read(sys.argv[2])
names = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
         torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
         torch.uint8: "U8", torch.bool: "BOOL"}
failures = []
if sorted(tensors) != sorted(want):
    failures.append("names %s != %s" % (sorted(tensors), sorted(want)))
if meta != {"epoch": "12"}:
    failures.append("metadata %r, want {'epoch': '12'}" % meta)
for name, t in want.items():
    got = tensors.get(name)
    if got is None:
        continue
    t = t.contiguous()
    raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
    if got.dtype != names[t.dtype] or got.shape != list(t.shape):
        failures.append("%s: %s %s, torch %s %s" % (name, got.dtype, got.shape, t.dtype, list(t.shape)))
    elif got.raw != raw:
        failures.append("%s: bytes differ from torch" % name)
if failures:
    print("10-torch (b): FAIL\n  " + "\n  ".join(failures))
    sys.exit(1)
print("10-torch (b): ok, %d tensors of a torch.save checkpoint -> qscript -> safetensors identical to torch" % len(tensors))
PY

# (c) torch's own weights-only loader refuses what qscript refuses (it never runs them either).
/usr/bin/python3 - formats/torch/testdata/malicious/*.pt <<'PY'
import sys
import pickle
import torch

accepted = []
for path in sys.argv[1:]:
    try:
        torch.load(path, weights_only=True)
        accepted.append(path)
    except (pickle.UnpicklingError, RuntimeError, KeyError, ValueError):
        pass
if accepted:
    print("10-torch (c): FAIL, torch.load(weights_only=True) accepted %s" % accepted)
    sys.exit(1)
print("10-torch (c): ok, torch.load(weights_only=True) also refuses all %d malicious fixtures" % (len(sys.argv) - 1))
PY
ls /tmp/qscript-pwned-* >/dev/null 2>&1 && { echo "10-torch: FAIL, a payload marker exists"; ls /tmp/qscript-pwned-*; exit 1; }
echo "10-torch: ok"
