#!/usr/bin/env python3
"""Plot training and validation loss against step from `matchbox train`,
`distill` or `finetune` progress logs (their stderr). Standard library only;
writes SVG.

    scripts/loss_plot.py OUT.svg LABEL=train.log [LABEL=other.log ...] [--title T] [--val-only]

Each series draws its training loss (thin line, a running mean over 20
steps, since single steps are noisy) and its validation loss (dots joined by
a thick line). --val-only leaves the training loss out (distillation's
training loss mixes in the KL term, so it is not comparable across runs).
"""
import os
import re
import sys

W, H = 760, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 190, 40, 55
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
LINE = re.compile(r"step\s+(\d+)/\d+ \| loss ([0-9.]+)(?: \| val ([0-9.]+))?")


def read_log(path):
    train, val = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            step = int(m.group(1))
            train.append((step, float(m.group(2))))
            if m.group(3):
                val.append((step, float(m.group(3))))
    return train, val


def smooth(points, n=20):
    out, acc = [], []
    for s, v in points:
        acc.append(v)
        if len(acc) > n:
            acc.pop(0)
        out.append((s, sum(acc) / len(acc)))
    return out


def main():
    args, title, val_only = [], "loss", False
    it = iter(sys.argv[1:])
    for a in it:
        if a == "--title":
            title = next(it)
        elif a == "--val-only":
            val_only = True
        else:
            args.append(a)
    if len(args) < 2:
        sys.exit(__doc__)
    out, series = args[0], []
    for spec in args[1:]:
        label, _, path = spec.partition("=")
        train, val = read_log(path)
        if not train:
            sys.exit(f"{path}: no progress lines")
        series.append((label, [] if val_only else smooth(train), val))
    xs = [s for _, t, v in series for s, _ in t + v]
    ys = [y for _, t, v in series for _, y in t + v]
    x0, x1 = 0, max(xs)
    y0, y1 = min(ys), max(ys)
    y0, y1 = y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0)

    def px(x):
        return LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def py(y):
        return H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - RIGHT / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>']
    for i in range(6):  # grid and ticks
        y = y0 + (y1 - y0) * i / 5
        svg.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{py(y):.1f}" y2="{py(y):.1f}" '
                   'stroke="#ddd"/>')
        svg.append(f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
        x = x0 + (x1 - x0) * i / 5
        svg.append(f'<text x="{px(x):.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{x:.0f}</text>')
    svg.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 15}" text-anchor="middle">step</text>')
    svg.append(f'<text x="18" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {(TOP + H - BOTTOM) / 2})">loss (nats/token)</text>')
    for k, (label, train, val) in enumerate(series):
        c = COLORS[k % len(COLORS)]
        if train:
            pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in train)
            svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="1" opacity="0.6" '
                       f'points="{pts}"/>')
        if val:
            pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in val)
            svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="2.5" points="{pts}"/>')
            for s, v in val:
                svg.append(f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="3" fill="{c}"/>')
        ly = TOP + 20 + 38 * k
        svg.append(f'<line x1="{W - RIGHT + 15}" x2="{W - RIGHT + 35}" y1="{ly}" y2="{ly}" '
                   f'stroke="{c}" stroke-width="2.5"/>')
        svg.append(f'<text x="{W - RIGHT + 40}" y="{ly + 4}">{label}</text>')
        last = f"val {val[-1][1]:.3f}" if val else f"train {train[-1][1]:.3f}"
        svg.append(f'<text x="{W - RIGHT + 40}" y="{ly + 18}" fill="#555">{last}</text>')
    svg.append("</svg>")
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
