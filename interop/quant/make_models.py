#!/usr/bin/python3
"""Build tiny QuantizeLinear -> DequantizeLinear(scale 1, zp 0) models and their inputs.

  /usr/bin/python3 interop/quant/make_models.py OUTDIR

The second node turns ORT's integer codes into floats equal to the codes, so any node
binding can read them. qparams come from REFERENCE_compute_scale_zp below, a numpy
re-implementation of onnxruntime.quantization.quant_utils.compute_scale_zp and
get_qmin_qmax_for_qType written from their published source (ORT's Python quantization
tool is not installed here); the Go test checks qscript's ORT numerics against it.

onnx 1.12 does not know INT4 (TensorProto 22) or opset 21. Both fields are plain ints in
the protobuf, so the int4 model is built by writing 22 into them directly, and the int4
zero point is written as packed raw bytes (element 2i in the low nibble).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

INT4 = 22


def REFERENCE_qrange(qtype, reduce_range, symmetric):
    # get_qmin_qmax_for_qType: reduce_range wins; only INT8/UINT8/INT16/UINT16 have a
    # symmetric range.
    full = {"int8": (-128, 127), "uint8": (0, 255), "int4": (-8, 7), "uint4": (0, 15)}
    reduced = {"int8": (-64, 64), "uint8": (0, 127), "int4": (-4, 3), "uint4": (0, 7)}
    sym = {"int8": (-127, 127), "uint8": (0, 254)}
    if reduce_range:
        return reduced[qtype]
    if symmetric and qtype in sym:
        return sym[qtype]
    return full[qtype]


def REFERENCE_compute_scale_zp(rmin, rmax, qmin, qmax, symmetric):
    rmin = np.minimum(np.float32(rmin), np.float32(0))
    rmax = np.maximum(np.float32(rmax), np.float32(0))
    if symmetric:
        absmax = np.maximum(np.abs(rmin), np.abs(rmax))
        rmin, rmax = -absmax, +absmax
    dr = np.array(rmax - rmin, dtype=np.float64)  # float32 subtraction, then widened
    dq = np.float64(qmax) - np.float64(qmin)
    scale = np.array(dr / dq)
    if scale < np.finfo(np.float32).tiny:
        return np.float32(1.0), 0
    if symmetric:
        zp = np.round((qmin + qmax) / np.float64(2.0))
    else:
        zp = np.round(qmin - rmin / scale)
    return scale.astype(np.float32), int(zp)


def f32hex(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32)).tobytes().hex()


def model(path, qtype, shape, scale, zp, axis):
    elem = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "int4": INT4}[qtype]
    opset = 21 if qtype == "int4" else 13
    scale = np.asarray(scale, dtype=np.float32)
    zp = np.asarray(zp)
    inits = [helper.make_tensor("scale", TensorProto.FLOAT, list(scale.shape), scale.reshape(-1).tolist())]
    zpt = TensorProto()
    zpt.name = "zp"
    zpt.dims.extend(list(zp.shape))
    zpt.data_type = elem
    if qtype == "int4":
        v = (zp.reshape(-1).astype(np.int64) & 0xF).tolist()
        if len(v) % 2:
            v.append(0)
        zpt.raw_data = bytes(v[i] | v[i + 1] << 4 for i in range(0, len(v), 2))
    else:
        zpt.raw_data = zp.astype(np.int8 if qtype == "int8" else np.uint8).tobytes()
    inits.append(zpt)
    inits.append(helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]))
    zero = TensorProto()
    zero.name = "zero"
    zero.data_type = elem
    zero.raw_data = b"\x00"
    inits.append(zero)
    kw = {"axis": axis} if scale.ndim == 1 else {}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], **kw),
        helper.make_node("DequantizeLinear", ["q", "one", "zero"], ["codes"]),
    ]
    g = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("codes", TensorProto.FLOAT, shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10 if qtype == "int4" else 7
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(3)
    inputs = {
        "normal": rng.standard_normal((5, 64)).astype(np.float32),
        "heavy": (rng.standard_normal((5, 64)) * np.exp(rng.standard_normal((5, 64)))).astype(np.float32),
        "positive": (np.abs(rng.standard_normal((5, 64))) + 0.1).astype(np.float32),
    }
    z = rng.standard_normal((5, 64)).astype(np.float32)
    z[1] = 0
    inputs["zero_row"] = z
    cases = []
    for name, x in inputs.items():
        for qtype in ("int8", "uint8", "int4"):
            for symmetric in (True, False):
                for reduce_range in (False, True):
                    qmin, qmax = REFERENCE_qrange(qtype, reduce_range, symmetric)
                    for per_channel in (False, True):
                        if per_channel:
                            sz = [REFERENCE_compute_scale_zp(r.min(), r.max(), qmin, qmax, symmetric) for r in x]
                            scale = [s for s, _ in sz]
                            zp = [z for _, z in sz]
                        else:
                            scale, zp = REFERENCE_compute_scale_zp(x.min(), x.max(), qmin, qmax, symmetric)
                        # ORT's zero point is not clamped; a stored int8/uint8/int4 must hold it.
                        lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int4": (-8, 7)}[qtype]
                        if not all(lo <= v <= hi for v in np.atleast_1d(zp)):
                            continue
                        # Ties for division: x/scale exactly k+0.5 for a few elements.
                        xx = x.copy()
                        s0 = np.float32(np.atleast_1d(scale)[0])
                        for j in range(0, 64, 9):
                            xx[0, j] = np.float32((j - 30 + 0.5)) * s0
                        cid = f"{name}-{qtype}-{'sym' if symmetric else 'asym'}-{'rr' if reduce_range else 'full'}-{'pc' if per_channel else 'pt'}"
                        path = os.path.join(out, cid + ".onnx")
                        model(path, qtype, list(xx.shape), scale, zp, 0)
                        cases.append({"id": cid, "model": path, "qtype": qtype, "symmetric": symmetric,
                                      "reduce_range": reduce_range, "per_channel": per_channel,
                                      "shape": list(xx.shape), "x": f32hex(xx),
                                      "rows_min": f32hex(x.min(axis=1)), "rows_max": f32hex(x.max(axis=1)),
                                      "min": f32hex([x.min()]), "max": f32hex([x.max()]),
                                      "scale": f32hex(np.atleast_1d(scale)),
                                      "zero_point": [int(v) for v in np.atleast_1d(zp)]})
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"onnx": onnx.__version__, "cases": cases}, f)
    print(f"{len(cases)} models in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
