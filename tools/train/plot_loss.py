"""Draw the training and held-out loss from a run's log.jsonl as a standalone SVG."""

import argparse
import json
import os

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 45


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def moving_average(values, window):
    smoothed = []
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1) : i + 1]
        smoothed.append(sum(chunk) / len(chunk))
    return smoothed


def render(records, title):
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    heldout = [(r["step"], r["heldout_loss"]) for r in records if "heldout_loss" in r]
    max_step = max(step for step, _ in train + heldout)
    losses = [loss for _, loss in train + heldout]
    low, high = int(min(losses)), int(max(losses)) + 1

    def x(step):
        return LEFT + (WIDTH - LEFT - RIGHT) * step / max_step

    def y(loss):
        return TOP + (HEIGHT - TOP - BOTTOM) * (high - loss) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>',
    ]

    # Axes with a grid line per unit of loss and five step ticks.
    for loss in range(low, high + 1):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(loss):.1f}" '
                     f'y2="{y(loss):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(loss) + 4:.1f}" text-anchor="end">{loss}</text>')
    for i in range(6):
        step = round(max_step * i / 5)
        parts.append(f'<text x="{x(step):.1f}" y="{HEIGHT - BOTTOM + 18}" '
                     f'text-anchor="middle">{step}</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" '
                 f'text-anchor="middle">optimizer step</text>')
    parts.append(f'<text x="16" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 16 {(TOP + HEIGHT - BOTTOM) / 2})">'
                 f'masked-token cross-entropy (nats)</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
                 f'height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#444"/>')

    # Raw training loss (light), its moving average (dark), held-out points.
    steps = [step for step, _ in train]
    raw = [loss for _, loss in train]
    for values, color, width in ((raw, "#9ecae1", 1), (moving_average(raw, 10), "#08519c", 2)):
        points = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in zip(steps, values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" '
                     f'stroke-width="{width}"/>')
    if heldout:
        points = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in heldout)
        parts.append(f'<polyline points="{points}" fill="none" stroke="#d94801" '
                     f'stroke-width="2" stroke-dasharray="5 3"/>')
        for s, v in heldout:
            parts.append(f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="3" fill="#d94801"/>')

    legend_x = WIDTH - RIGHT - 210
    for i, (label, color) in enumerate((("training loss, 10-point average", "#08519c"),
                                        ("held-out loss (32 windows)", "#d94801"))):
        legend_y = TOP + 18 + 18 * i
        parts.append(f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{legend_y - 4}" '
                     f'y2="{legend_y - 4}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{legend_x + 30}" y="{legend_y}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    script_dir = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", default=os.path.join(script_dir, "runs/sdar-micro/log.jsonl"))
    parser.add_argument("--out", default=os.path.join(script_dir, "../../models/sdar-micro/loss_curve.svg"))
    parser.add_argument("--title", default="sdar-micro: block-diffusion training loss")
    parser.add_argument("--last-step", type=int, default=None,
                        help="plot records up to this step only (default: all)")
    args = parser.parse_args()
    with open(args.out, "w") as f:
        records = read_log(args.log)
        if args.last_step is not None:
            records = [r for r in records if r["step"] <= args.last_step]
        f.write(render(records, args.title))


if __name__ == "__main__":
    main()
