#!/usr/bin/env bash
# qscript's safetensors writer against an independent reader written to the spec
# (scripts/fixtures/safetensors_reader.py), numpy and torch: numpy makes arrays of every
# dtype numpy has, qscript reads them from .npz and writes safetensors (plus bf16/f16 casts
# of the f32 arrays), and Python checks names, dtypes, shapes and every bit.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

/usr/bin/python3 - "$tmp/in.npz" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(20)
f32 = rng.standard_normal((33, 17)).astype(np.float32) * 100
f32[0, :6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40]  # specials and a subnormal
np.savez(sys.argv[1],
    f32=f32,
    f64=rng.standard_normal((4, 5)),
    f16=rng.standard_normal(9).astype(np.float16),
    i64=rng.integers(-2**62, 2**62, 6, dtype=np.int64),
    i32=rng.integers(-2**31, 2**31 - 1, (3, 2), dtype=np.int32),
    i16=rng.integers(-2**15, 2**15 - 1, 7, dtype=np.int16),
    i8=rng.integers(-128, 127, (2, 2, 2), dtype=np.int8),
    u8=rng.integers(0, 255, 5, dtype=np.uint8),
    flags=rng.standard_normal(4) > 0,
    scalar=np.float32(2.5).reshape(()),
    empty=np.zeros((0, 3), dtype=np.float32))
PY

go run ./interop/stwrite "$tmp/in.npz" "$tmp/out.safetensors"

/usr/bin/python3 - "$tmp/in.npz" "$tmp/out.safetensors" <<'PY'
import sys
sys.path.insert(0, "scripts/fixtures")
import numpy as np
import torch
import safetensors_reader as st

src = np.load(sys.argv[1])
meta, tensors = st.read(sys.argv[2])
names = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32",
         "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
failures = []
expected_names = set(src.files) | {n + s for n in src.files if src[n].dtype == np.float32 for s in (".bf16", ".f16")}
if set(tensors) != expected_names:
    failures.append("names %s != %s" % (sorted(tensors), sorted(expected_names)))
if meta != {"source": "interop/stwrite", "arrays": str(len(src.files))}:
    failures.append("metadata %r" % meta)
for name in src.files:
    a = src[name]
    t = tensors[name]
    if names.get(t.dtype) != a.dtype.name or t.shape != list(a.shape):
        failures.append("%s: %s %s, numpy %s %s" % (name, t.dtype, t.shape, a.dtype, a.shape))
    elif t.raw != np.ascontiguousarray(a).tobytes():
        failures.append("%s: bytes differ" % name)
    if a.dtype == np.float32:
        # NaN payloads differ between torch's scalar (0x7fc0) and vectorized (0xffff) casts,
        # so NaN only has to stay NaN; every other value must match torch bit for bit.
        want = torch.from_numpy(a.copy()).bfloat16().view(torch.int16).numpy().view(np.uint16).ravel()
        got = np.frombuffer(tensors[name + ".bf16"].raw, dtype="<u2")
        nan = np.isnan(a.ravel())
        got_nan = (got & 0x7fff) > 0x7f80
        if not np.array_equal(got[~nan], want[~nan]) or not got_nan[nan].all():
            failures.append("%s.bf16: differs from torch's bfloat16 rounding" % name)
        if tensors[name + ".f16"].raw != a.astype(np.float16).tobytes():
            failures.append("%s.f16: differs from numpy's float16 rounding" % name)
# The padded header and sorted names of the spec's reference writer.
raw = open(sys.argv[2], "rb").read()
n = int.from_bytes(raw[:8], "little")
if n % 8:
    failures.append("header length %d is not a multiple of 8" % n)
if failures:
    print("20-safetensors: FAIL\n  " + "\n  ".join(failures))
    sys.exit(1)
print("20-safetensors: ok, %d tensors (%d arrays + bf16/f16 casts) identical to numpy/torch" % (len(tensors), len(src.files)))
PY
