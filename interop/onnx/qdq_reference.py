#!/usr/bin/python3
"""Reference side of interop/50-onnx-qdq.sh (torch 1.13, onnx 1.12, numpy).

    qdq_reference.py export DIR     float model (torch.onnx.export, opset 13), input batch,
                                    calibration ranges of each quantized node's inputs
    qdq_reference.py simulate DIR   fake-quant simulation of the QDQ model with the qparams
                                    the Go exporter chose (DIR/params.json); compares ONNX
                                    Runtime's outputs with it (1e-5) and with float (loose)
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


class Net(torch.nn.Module):
    """Conv -> Relu -> Conv(stride 2) -> Relu -> Flatten -> Linear (Gemm) -> Relu -> MatMul."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 4, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(64, 16)
        self.w = torch.nn.Parameter(torch.randn(16, 5) * 0.3)

    def forward(self, x, taps=None):
        ins = [x]
        x = torch.relu(self.conv1(x))
        ins.append(x)
        x = torch.relu(self.conv2(x))
        x = torch.flatten(x, 1)
        ins.append(x)
        x = torch.relu(self.fc(x))
        ins.append(x)
        y = x @ self.w
        if taps is not None:
            taps.extend(ins)
        return y


def export(d):
    torch.manual_seed(3)
    net = Net().eval()
    x = torch.randn(8, 3, 8, 8)
    torch.onnx.export(net, x, os.path.join(d, "float.onnx"), opset_version=13,
                      input_names=["input"], output_names=["output"])
    np.save(os.path.join(d, "x.npy"), x.numpy())
    taps = []
    with torch.no_grad():
        y = net(x, taps)
    np.save(os.path.join(d, "float_torch.npy"), y.numpy())
    model = onnx.load(os.path.join(d, "float.onnx"))
    qnodes = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    assert len(qnodes) == len(taps), [n.op_type for n in qnodes]
    ranges = {n.input[0]: [float(t.min()), float(t.max())] for n, t in zip(qnodes, taps)}
    with open(os.path.join(d, "ranges.json"), "w") as f:
        json.dump(ranges, f, indent=1)


def fake_quant(x, scale, zp, lo, hi, axis=None):
    """QuantizeLinear then DequantizeLinear, in float32 as the ONNX ops define them."""
    x = np.asarray(x, dtype=np.float32)
    s = np.asarray(scale, dtype=np.float32)
    z = np.asarray(zp, dtype=np.float32)
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    q = np.clip(np.rint(x / s) + z, lo, hi)  # np.rint rounds half to even
    return ((q - z) * s).astype(np.float32)


def simulate(d):
    params = json.load(open(os.path.join(d, "params.json")))
    model = onnx.load(os.path.join(d, "float.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    x = np.load(os.path.join(d, "x.npy"))
    act, wts = params["activations"], params["weights"]

    def fq_act(name, v):
        a = act[name]
        return fake_quant(v, a["scale"], a["zero_point"], 0, 255)

    def fq_weight(name):
        w = wts[name]
        return fake_quant(inits[name], w["scale"], [0] * len(w["scale"]), -128, 127, axis=w["axis"])

    def q_bias(name, in_name, w_name, beta=1.0):
        s = (np.float32(act[in_name]["scale"]) * np.asarray(wts[w_name]["scale"], np.float32) * np.float32(beta)).astype(np.float32)
        q = np.clip(np.round(inits[name].astype(np.float64) / s.astype(np.float64)), -2**31, 2**31 - 1).astype(np.int32)
        return (q.astype(np.float32) * s).astype(np.float32)

    nodes = {n.op_type + str(i): n for i, n in enumerate(n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul"))}
    c1, c2, fc, mm = nodes.values()
    t = torch.from_numpy

    def conv(n, v):
        attrs = {a.name: a for a in n.attribute}
        return F.conv2d(t(fq_act(n.input[0], v)), t(fq_weight(n.input[1])), t(q_bias(n.input[2], n.input[0], n.input[1])),
                        stride=list(attrs["strides"].ints), padding=list(attrs["pads"].ints)[:2]).numpy()

    h = np.maximum(conv(c1, x), 0)
    h = np.maximum(conv(c2, h), 0).reshape(x.shape[0], -1)
    wq = fq_weight(fc.input[1])  # Gemm transB=1: [out, in]
    h = fq_act(fc.input[0], h) @ wq.T + q_bias(fc.input[2], fc.input[0], fc.input[1])
    h = np.maximum(h, 0)
    sim = fq_act(mm.input[0], h) @ fq_weight(mm.input[1])

    ort_q = np.load(os.path.join(d, "ort_qdq.npy"))
    ort_q_noopt = np.load(os.path.join(d, "ort_qdq_noopt.npy"))
    ort_f = np.load(os.path.join(d, "ort_float.npy"))
    torch_f = np.load(os.path.join(d, "float_torch.npy"))
    ok = True
    for label, got in (("ORT (optimizations on)", ort_q), ("ORT (optimizations off)", ort_q_noopt)):
        err = np.abs(got - sim).max()
        tol_ok = np.allclose(got, sim, rtol=1e-5, atol=1e-5)
        print(f"  {label} vs numpy fake-quant: max |diff| {err:.3g} ({'ok' if tol_ok else 'FAIL'}, atol=rtol=1e-5)")
        ok &= tol_ok
    ferr = np.abs(ort_f - torch_f).max()
    print(f"  ORT float vs torch float: max |diff| {ferr:.3g}")
    ok &= ferr < 1e-4
    qerr = np.abs(ort_q - ort_f).max()
    scale = np.abs(ort_f).max()
    sqnr = 10 * np.log10(np.sum(ort_f.astype(np.float64) ** 2) / np.sum((ort_q - ort_f).astype(np.float64) ** 2))
    loose = qerr <= 0.05 * scale
    print(f"  QDQ vs float: max |diff| {qerr:.3g} of max |y| {scale:.3g}, SQNR {sqnr:.1f} dB ({'ok' if loose else 'FAIL'}, bound 5% of max |y|)")
    ok &= loose
    return ok


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "export":
        export(d)
    elif cmd == "simulate":
        sys.exit(0 if simulate(d) else 1)
    else:
        sys.exit(f"unknown command {cmd}")
