"""Evaluate the exported model: held-out masked-token loss and accuracy, greedy samples.

Reads the shipped model.safetensors (BF16, widened to float32), not the training checkpoint,
so the numbers describe the files the engine loads. Writes eval.json into the run folder and
prints the tables and samples for the model card.
"""

import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

import bpe
import safetensors_io
from model import ModelConfig, SDARModel, count_parameters, inference_mask, training_mask
from prepare_data import SPECIAL_TOKENS, encode_with_specials

MASK_RATIOS = (0.25, 0.5, 0.75, 1.0)
STOP_IDS = (SPECIAL_TOKENS["<|endoftext|>"], SPECIAL_TOKENS["<|im_end|>"])
PROMPTS = [
    "It is a truth universally acknowledged",
    "Elizabeth looked at her sister, and",
    "The weather was",
    # The ChatML prompt that tokenizer_config.json's chat_template renders for one user turn.
    "<|im_start|>user\nMr. Knightley came to Hartfield in the morning.<|im_end|>\n"
    "<|im_start|>assistant\n",
]


def load_model(model_dir):
    model = SDARModel(ModelConfig())
    tensors = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model


@torch.no_grad()
def masked_token_metrics(model, tokens, seq_len, ratio, unigram_log_probs, seed=0):
    """Mask round(ratio * block_size) random positions of every block of every held-out window
    and score the model and the unigram baseline on those positions.

    Windows are the non-overlapping seq_len slices of the held-out stream.
    """
    block_size = model.config.block_size
    per_block = round(ratio * block_size)
    generator = torch.Generator().manual_seed(seed)
    allowed = training_mask(seq_len, block_size)
    positions = torch.arange(seq_len).repeat(2)
    unigram_guess = int(unigram_log_probs.argmax())

    windows = tokens[: len(tokens) // seq_len * seq_len].view(-1, seq_len)
    totals = {"model_nll": 0.0, "model_correct": 0, "unigram_nll": 0.0, "unigram_correct": 0,
              "count": 0}
    for clean in windows.split(16):
        batch = clean.shape[0]
        scores = torch.rand(batch, seq_len // block_size, block_size, generator=generator)
        order = scores.argsort(dim=-1)
        masked = torch.zeros_like(scores, dtype=torch.bool)
        masked.scatter_(-1, order[..., :per_block], True)
        masked = masked.view(batch, seq_len)
        noisy = torch.where(masked, torch.full_like(clean, SPECIAL_TOKENS["<|MASK|>"]), clean)

        hidden = model(torch.cat([clean, noisy], dim=1), positions, allowed)[:, seq_len:]
        logits = model.logits(hidden[masked])
        targets = clean[masked]
        totals["model_nll"] += F.cross_entropy(logits, targets, reduction="sum").item()
        totals["model_correct"] += (logits.argmax(-1) == targets).sum().item()
        totals["unigram_nll"] += -unigram_log_probs[targets].sum().item()
        totals["unigram_correct"] += (targets == unigram_guess).sum().item()
        totals["count"] += targets.numel()

    count = totals["count"]
    return {
        "mask_ratio": ratio,
        "masked_tokens": count,
        "model_loss": totals["model_nll"] / count,
        "model_accuracy": totals["model_correct"] / count,
        "unigram_loss": totals["unigram_nll"] / count,
        "unigram_accuracy": totals["unigram_correct"] / count,
    }


@torch.no_grad()
def greedy_block_decode(model, prompt_ids, new_tokens):
    """Decode greedily the way the engine's SDAR path does.

    Blocks are aligned to multiples of block_size from position 0. Each step runs one forward
    and commits the single most confident masked position, so a block takes block_size steps.
    Decoding stops after a block that contains a stop id.

    Attention is the block-causal inference mask over the whole canvas, which gives the same
    result as a KV cache of the committed blocks.
    """
    block_size = model.config.block_size
    mask_id = SPECIAL_TOKENS["<|MASK|>"]
    total = math.ceil((len(prompt_ids) + new_tokens) / block_size) * block_size
    canvas = torch.full((1, total), mask_id, dtype=torch.long)
    canvas[0, : len(prompt_ids)] = torch.tensor(prompt_ids)
    forwards = 0

    for block_start in range(len(prompt_ids) // block_size * block_size, total, block_size):
        end = block_start + block_size
        while (canvas[0, block_start:end] == mask_id).any():
            ids = canvas[:, :end]
            hidden = model(ids, torch.arange(end), inference_mask(end, block_size))
            forwards += 1
            probs = model.logits(hidden[0, block_start:end]).softmax(-1)
            confidence, candidate = probs.max(-1)
            still_masked = canvas[0, block_start:end] == mask_id
            confidence = torch.where(still_masked, confidence, torch.full_like(confidence, -1.0))
            best = int(confidence.argmax())
            canvas[0, block_start + best] = candidate[best]
        if any(int(t) in STOP_IDS for t in canvas[0, len(prompt_ids) : end]):
            canvas = canvas[:, :end]
            break
    return canvas[0, len(prompt_ids) :].tolist(), forwards


def decode_text(strings, ids):
    """Turn ids back into text, printing special tokens by name."""
    specials = {v: k for k, v in SPECIAL_TOKENS.items()}
    pieces, pending = [], []
    for token_id in ids:
        if token_id in specials:
            pieces.append(bytearray(pending).decode("utf-8", errors="replace"))
            pieces.append(specials[token_id])
            pending = []
        else:
            pending.extend(UNICODE_TO_BYTE[c] for c in strings[token_id])
    pieces.append(bytearray(pending).decode("utf-8", errors="replace"))
    return "".join(pieces)


UNICODE_TO_BYTE = {c: b for b, c in bpe.BYTE_TO_UNICODE.items()}


def main():
    script_dir = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.path.join(script_dir, "data"))
    parser.add_argument("--model-dir", default=os.path.join(script_dir, "../../models/sdar-micro"))
    parser.add_argument("--out", default=os.path.join(script_dir, "runs/sdar-micro/eval.json"))
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=48, help="tokens per sample")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-samples", action="store_true", help="compute the metrics only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model(args.model_dir)
    heldout = torch.from_numpy(
        np.fromfile(os.path.join(args.data_dir, "heldout.u16"), dtype=np.uint16).astype(np.int64))
    counts = torch.from_numpy(np.load(os.path.join(args.data_dir, "unigram.npy"))).double()
    # Add-one smoothing so held-out tokens unseen in training get a finite loss.
    unigram_log_probs = ((counts + 1) / (counts.sum() + len(counts))).log()

    results = {"parameters": count_parameters(model), "metrics": [], "samples": []}
    print("| mask ratio | masked tokens | loss | accuracy | unigram loss | unigram accuracy |")
    print("|---|---|---|---|---|---|")
    for ratio in MASK_RATIOS:
        m = masked_token_metrics(model, heldout, args.seq_len, ratio, unigram_log_probs)
        results["metrics"].append(m)
        print(f"| {ratio} | {m['masked_tokens']} | {m['model_loss']:.3f} | "
              f"{m['model_accuracy']:.1%} | {m['unigram_loss']:.3f} | "
              f"{m['unigram_accuracy']:.1%} |")

    merges = bpe.load_merges(os.path.join(args.data_dir, "merges.json"))
    encoder = bpe.Encoder(merges)
    strings = bpe.token_strings(merges)

    prompts = [] if args.skip_samples else PROMPTS
    for prompt in prompts:
        prompt_ids = encode_with_specials(encoder, prompt)
        output_ids, forwards = greedy_block_decode(model, prompt_ids, args.new_tokens)
        text = decode_text(strings, output_ids)
        results["samples"].append({"prompt": prompt, "output": text, "output_ids": output_ids,
                                   "forwards": forwards})
        print(f"\nPROMPT: {prompt!r}\nOUTPUT: {text!r}\n({len(output_ids)} tokens, "
              f"{forwards} forwards)")

    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
