#!/usr/bin/env python3
"""Plot mean KL divergence against bits per weight, one series per model,
from the TSVs bench/quality.sh writes. Standard library only; writes SVG.

    scripts/kld_plot.py OUT.svg LABEL=FILE.tsv [LABEL=FILE.tsv ...]

The y axis is logarithmic: the types span four orders of magnitude of KLD.
"""
import math
import sys

W, H = 760, 480
LEFT, RIGHT, TOP, BOTTOM = 80, 170, 40, 60
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            cells = dict(zip(header, line.rstrip("\n").split("\t")))
            try:
                bpw, kld = float(cells["bpw"]), float(cells["kld"])
            except (KeyError, ValueError):
                continue  # the base row, or a type that failed
            if kld > 0:
                rows.append((cells["type"], bpw, kld))
    # Presets that made the same file (fallbacks) share one labelled point.
    merged = {}
    for name, bpw, kld in rows:
        merged.setdefault((bpw, kld), []).append(name)
    return [("/".join(names), b, k) for (b, k), names in merged.items()]


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = sys.argv[1]
    series = []
    for arg in sys.argv[2:]:
        label, _, path = arg.partition("=")
        series.append((label, read_tsv(path)))
    pts = [p for _, rows in series for p in rows]
    if not pts:
        sys.exit("no points to plot")
    x0, x1 = 0.0, math.ceil(max(p[1] for p in pts) / 2) * 2
    y0 = math.floor(math.log10(min(p[2] for p in pts)))
    y1 = math.ceil(math.log10(max(p[2] for p in pts)))
    if y1 == y0:
        y1 += 1

    def sx(x):
        return LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def sy(y):
        return TOP + (y1 - math.log10(y)) / (y1 - y0) * (H - TOP - BOTTOM)

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - 60}" y="22" font-size="14">Mean KLD vs bits per weight</text>']
    for e in range(y0, y1 + 1):
        y = sy(10 ** e)
        svg.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">1e{e}</text>')
    for x in range(int(x0), int(x1) + 1, 2):
        px = sx(x)
        svg.append(f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{H - BOTTOM}" stroke="#eee"/>')
        svg.append(f'<text x="{px:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{x}</text>')
    svg.append(f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" '
               f'height="{H - TOP - BOTTOM}" fill="none" stroke="black"/>')
    svg.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 18}" text-anchor="middle">'
               'bits per weight (all tensors)</text>')
    svg.append(f'<text transform="translate(22 {(TOP + H - BOTTOM) / 2}) rotate(-90)" '
               'text-anchor="middle">mean KL divergence vs base (log)</text>')
    for i, (label, rows) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        rows = sorted(rows, key=lambda r: r[1])
        path = " ".join(f"{sx(b):.1f},{sy(k):.1f}" for _, b, k in rows)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                   'stroke-opacity="0.35"/>')
        for name, b, k in rows:
            svg.append(f'<circle cx="{sx(b):.1f}" cy="{sy(k):.1f}" r="3.5" fill="{color}"/>')
            svg.append(f'<text x="{sx(b) + 5:.1f}" y="{sy(k) - 5:.1f}" fill="{color}" '
                       f'font-size="9">{esc(name)}</text>')
        ly = TOP + 20 + 18 * i
        svg.append(f'<circle cx="{W - RIGHT + 16}" cy="{ly - 4}" r="4" fill="{color}"/>')
        svg.append(f'<text x="{W - RIGHT + 26}" y="{ly}">{esc(label)}</text>')
    svg.append("</svg>")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
