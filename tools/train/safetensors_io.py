"""Minimal safetensors writer and reader for BF16 and F32 tensors.

File layout: an 8-byte little-endian header length N, N bytes of JSON header
({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}), then the
tensor data. Offsets are relative to the end of the header. The header is padded with spaces
so the data starts at an 8-byte boundary.
"""

import json
import struct

import numpy as np
import torch


def float32_to_bfloat16_bits(array):
    """Round float32 values to bfloat16 (round to nearest, ties to even) and return the bits."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounding_bias = ((bits >> 16) & 1) + 0x7FFF
    rounded = ((bits + rounding_bias) >> 16).astype(np.uint16)
    # NaN must stay NaN: rounding could carry a NaN mantissa into the exponent.
    nan = np.isnan(array)
    rounded[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def bfloat16_bits_to_float32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def save(path, tensors, dtype="BF16", metadata=None):
    """Write a dict of name -> float torch tensor, converting each to `dtype` (BF16 or F32)."""
    if dtype not in ("BF16", "F32"):
        raise ValueError(f"unsupported dtype {dtype!r}: expected BF16 or F32")
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        values = tensors[name].detach().to(torch.float32).contiguous().numpy()
        data = float32_to_bfloat16_bits(values) if dtype == "BF16" else values
        raw = data.tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(values.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata or {"format": "pt"}

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-(8 + len(header_bytes)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for raw in blobs:
            f.write(raw)


def load(path):
    """Read a safetensors file with BF16 or F32 tensors into float32 torch tensors."""
    with open(path, "rb") as f:
        content = f.read()
    (header_len,) = struct.unpack("<Q", content[:8])
    header = json.loads(content[8 : 8 + header_len])
    data = memoryview(content)[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] == "BF16":
            values = bfloat16_bits_to_float32(np.frombuffer(data[begin:end], dtype=np.uint16))
        elif info["dtype"] == "F32":
            values = np.frombuffer(data[begin:end], dtype=np.float32).copy()
        else:
            raise ValueError(f"tensor {name}: unsupported dtype {info['dtype']}")
        tensors[name] = torch.from_numpy(values.reshape(info["shape"]))
    return tensors
