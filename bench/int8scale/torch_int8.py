#!/usr/bin/python3
"""PyTorch 1.13 peer of bench/40-int8-dynamic-scale.sh: load a safetensors checkpoint
(numpy memmap of the file: Debian's torch has no safetensors package), quantize every 2-D
weight per channel to int8 (PerChannelMinMaxObserver(qint8, per_channel_symmetric) +
torch.quantize_per_channel, as torch.ao does) and torch.save the codes and scales in the
compressed-tensors layout.

    torch_int8.py IN.safetensors OUT.pt
"""
import json
import struct
import sys

import numpy as np
import torch


def main(src, dst):
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        arr = np.memmap(src, dtype=np.float32, mode="c", offset=base + begin, shape=tuple(e["shape"]))
        w = torch.from_numpy(arr)
        obs = torch.ao.quantization.PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
        obs(w)
        scale, zp = obs.calculate_qparams()
        q = torch.quantize_per_channel(w, scale.double(), zp, 0, torch.qint8)
        out[name] = q.int_repr()
        out[name + "_scale"] = scale.float().reshape(-1, 1)
        del arr, w, q
    torch.save(out, dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
