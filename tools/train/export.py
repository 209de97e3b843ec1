"""Write model.safetensors (BF16) from a training checkpoint and check it reads back exactly.

The state dict already uses Hugging Face Qwen3 tensor names and [out, in] Linear layouts.
The LM head is tied to model.embed_tokens.weight, so no lm_head.weight is written.
"""

import argparse
import os

import torch

import safetensors_io


def main():
    script_dir = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=os.path.join(script_dir, "runs/sdar-micro/checkpoint.pt"))
    parser.add_argument("--model-dir", default=os.path.join(script_dir, "../../models/sdar-micro"))
    args = parser.parse_args()

    checkpoint = torch.load(args.checkpoint, map_location="cpu")
    state = checkpoint["model"]
    path = os.path.join(args.model_dir, "model.safetensors")
    safetensors_io.save(path, state, dtype="BF16", metadata={"format": "pt"})

    # torch's own float32 -> bfloat16 conversion also rounds to nearest even, so the file must
    # match it bit for bit.
    loaded = safetensors_io.load(path)
    if sorted(loaded) != sorted(state):
        raise SystemExit(f"{path}: tensor names differ from the checkpoint")
    for name, tensor in state.items():
        expected = tensor.to(torch.bfloat16).to(torch.float32)
        if not torch.equal(loaded[name], expected):
            raise SystemExit(f"{path}: tensor {name} does not match the checkpoint in BF16")
    size = os.path.getsize(path)
    print(f"wrote {path}: {len(state)} tensors, {size} bytes, step {checkpoint['step']}")


if __name__ == "__main__":
    main()
