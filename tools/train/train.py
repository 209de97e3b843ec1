"""Train the SDAR-style block-diffusion model on the token stream from prepare_data.py.

Each step draws `batch` windows of `seq_len` tokens. For every block of `block_size` tokens a
mask ratio t ~ U(0, 1] is drawn and each token of the noisy copy is replaced by the mask token
with probability t (at least one per block). The model reads [clean x ; noisy x_t] with the
attention mask of model.training_mask and RoPE positions 0..seq_len-1 for both halves. The loss
is the cross-entropy at the masked noisy positions, where output row i predicts token i.

The run is deterministic for a given seed and thread count: fixed step count, seeded window
order and noise, two threads.
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from model import ModelConfig, SDARModel, count_parameters, training_mask
from prepare_data import SPECIAL_TOKENS

MASK_TOKEN_ID = SPECIAL_TOKENS["<|MASK|>"]


def load_tokens(path):
    return torch.from_numpy(np.fromfile(path, dtype=np.uint16).astype(np.int64))


def sample_windows(tokens, batch, seq_len, generator):
    starts = torch.randint(0, len(tokens) - seq_len, (batch,), generator=generator)
    return torch.stack([tokens[s : s + seq_len] for s in starts.tolist()])


def noise_blocks(clean, block_size, generator):
    """Return (noisy, masked): each block gets its own ratio t ~ U(0, 1] and at least one mask."""
    batch, seq_len = clean.shape
    num_blocks = seq_len // block_size
    t = 1.0 - torch.rand(batch, num_blocks, 1, generator=generator)
    masked = torch.rand(batch, num_blocks, block_size, generator=generator) < t

    # A block that drew no mask gets one at a random position.
    empty = ~masked.any(dim=-1)
    forced = torch.randint(0, block_size, (batch, num_blocks), generator=generator)
    masked |= empty[..., None] & F.one_hot(forced, block_size).bool()

    masked = masked.view(batch, seq_len)
    noisy = torch.where(masked, torch.full_like(clean, MASK_TOKEN_ID), clean)
    return noisy, masked


def masked_loss(model, clean, noisy, masked, allowed, positions):
    """Return the mean cross-entropy over the masked positions of the noisy half."""
    seq_len = clean.shape[1]
    hidden = model(torch.cat([clean, noisy], dim=1), positions, allowed)
    noisy_hidden = hidden[:, seq_len:][masked]
    # The LM head, the most expensive matmul in a model this small, runs on masked rows only.
    logits = model.logits(noisy_hidden)
    return F.cross_entropy(logits, clean[masked])


def learning_rate(step, total_steps, peak, warmup):
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


@torch.no_grad()
def quick_eval(model, heldout, seq_len, block_size, allowed, positions, windows=32):
    """Held-out loss on a fixed set of windows with seeded noise, for the training log."""
    model.eval()
    generator = torch.Generator().manual_seed(0)
    stride = max(1, (len(heldout) - seq_len) // windows)
    clean = torch.stack([heldout[i * stride : i * stride + seq_len] for i in range(windows)])
    noisy, masked = noise_blocks(clean, block_size, generator)
    loss = masked_loss(model, clean, noisy, masked, allowed, positions)
    model.train()
    return loss.item()


def main():
    script_dir = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.path.join(script_dir, "data"))
    parser.add_argument("--out-dir", default=os.path.join(script_dir, "runs", "sdar-micro"))
    parser.add_argument("--steps", type=int, default=1800, help="optimizer steps, fixed in advance")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="end the run after this many steps; the learning-rate schedule still "
                             "spans --steps (default: run all --steps)")
    parser.add_argument("--batch", type=int, default=16, help="windows per step")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per window")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=100, help="warmup steps")
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=10, help="steps between log lines")
    parser.add_argument("--eval-every", type=int, default=200, help="steps between held-out evals")
    parser.add_argument("--save-every", type=int, default=200, help="steps between checkpoints")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)

    config = ModelConfig()
    if args.seq_len % config.block_size:
        raise SystemExit(f"--seq-len {args.seq_len} must be a multiple of {config.block_size}")
    model = SDARModel(config)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{count_parameters(model)} parameters", flush=True)

    train_tokens = load_tokens(os.path.join(args.data_dir, "train.u16"))
    heldout_tokens = load_tokens(os.path.join(args.data_dir, "heldout.u16"))

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or "embed" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95),
    )

    allowed = training_mask(args.seq_len, config.block_size)
    positions = torch.arange(args.seq_len).repeat(2)
    data_generator = torch.Generator().manual_seed(args.seed)
    log_path = os.path.join(args.out_dir, "log.jsonl")
    log = open(log_path, "w")

    last_step = min(args.steps, args.stop_after or args.steps)
    start = time.time()
    window_start, window_tokens = start, 0
    for step in range(last_step):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)

        clean = sample_windows(train_tokens, args.batch, args.seq_len, data_generator)
        noisy, masked = noise_blocks(clean, config.block_size, data_generator)
        loss = masked_loss(model, clean, noisy, masked, allowed, positions)

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        window_tokens += clean.numel()

        done = step + 1
        record = None
        if done % args.log_every == 0 or done == last_step:
            now = time.time()
            record = {
                "step": done,
                "loss": round(loss.item(), 4),
                "lr": optimizer.param_groups[0]["lr"],
                "tokens_per_s": round(window_tokens / (now - window_start), 1),
                "elapsed_s": round(now - start, 1),
            }
            window_start, window_tokens = now, 0
        if done % args.eval_every == 0 or done == last_step:
            record = record or {"step": done, "elapsed_s": round(time.time() - start, 1)}
            record["heldout_loss"] = round(
                quick_eval(model, heldout_tokens, args.seq_len, config.block_size,
                           allowed, positions), 4)
        if record:
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), flush=True)
        if done % args.save_every == 0 or done == last_step:
            checkpoint = {"model": model.state_dict(), "step": done, "args": vars(args),
                          "elapsed_s": time.time() - start}
            torch.save(checkpoint, os.path.join(args.out_dir, "checkpoint.pt.tmp"))
            os.replace(os.path.join(args.out_dir, "checkpoint.pt.tmp"),
                       os.path.join(args.out_dir, "checkpoint.pt"))

    total = time.time() - start
    tokens = last_step * args.batch * args.seq_len
    summary = {"steps": last_step, "schedule_steps": args.steps, "tokens": tokens,
               "wall_s": round(total, 1), "tokens_per_s": round(tokens / total, 1)}
    with open(os.path.join(args.out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
