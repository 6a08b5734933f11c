#!/usr/bin/env python3
"""KLD against bits per weight for pruned and dense files (docs/QUALITY.md,
"Pruning: quality on the project model"), as a hand-written SVG (no
matplotlib needed).

usage: plot-sparse-kld.py RESULTS.tsv OUT.svg
RESULTS.tsv: rows of scripts/sparse-quality.sh (case, bpw, ppl, kld, bytes).
"""
import math
import sys

W, H = 760, 480
L, R, T, B = 70, 200, 30, 50  # margins: the legend sits on the right
COLORS = {"dense": "#000000", "magnitude": "#d62728", "wanda": "#1f77b4", "sparsegpt": "#2ca02c"}


def read(path):
    rows = []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 4 or not f[1] or not f[3]:
            continue
        kld = float(f[3])
        if kld <= 0:
            continue
        rows.append((f[0].split(","), float(f[1]), kld))
    return rows


def main():
    rows = read(sys.argv[1])
    xs = [r[1] for r in rows]
    ys = [math.log10(r[2]) for r in rows]
    x0, x1 = math.floor(min(xs)) - 0.5, math.ceil(max(xs)) + 0.5
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))

    def px(x):
        return L + (x - x0) / (x1 - x0) * (W - L - R)

    def py(y):
        return H - B - (y - y0) / (y1 - y0) * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for e in range(int(y0), int(y1) + 1):  # decades
        y = py(e)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">1e{e}</text>')
    for x in range(int(math.ceil(x0)), int(x1) + 1):
        out.append(f'<line x1="{px(x):.1f}" y1="{T}" x2="{px(x):.1f}" y2="{H - B}" stroke="#eee"/>')
        out.append(f'<text x="{px(x):.1f}" y="{H - B + 16}" text-anchor="middle">{x}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" '
               f'stroke="black"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">bits per weight '
               f'(whole file\'s tensors)</text>')
    out.append(f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(T + H - B) / 2})">mean KLD vs F16 (log scale)</text>')
    dense = sorted((r for r in rows if r[0][0] == "dense"), key=lambda r: r[1])
    if dense:
        pts = " ".join(f"{px(r[1]):.1f},{py(math.log10(r[2])):.1f}" for r in dense)
        out.append(f'<polyline points="{pts}" fill="none" stroke="black" stroke-dasharray="4 3"/>')
    for case, bpw, kld in rows:
        m = case[0]
        # Methods side by side: the files of one storage have the same size.
        x, y = px(bpw + {"magnitude": -0.08, "sparsegpt": 0.08}.get(m, 0.0)), py(math.log10(kld))
        c = COLORS.get(m, "gray")
        if m == "dense":
            out.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{c}"/>')
            out.append(f'<text x="{x + 6:.1f}" y="{y - 6:.1f}">{case[1]}</text>')
            continue
        pattern = case[1] if case[1] != "unstructured" else f"{round(float(case[2]) * 100)}%"
        label = f"{pattern} {case[3]} {case[4]}"
        fill = f'fill="none" stroke="{c}" stroke-width="1.5"' if case[4] == "Q8_0" else f'fill="{c}"'
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" {fill}>'
                   f'<title>{m} {label}: {bpw} bpw, KLD {kld}</title></circle>')
    ly = T + 10
    for name, c in COLORS.items():
        out.append(f'<circle cx="{W - R + 20}" cy="{ly}" r="4" fill="{c}"/>')
        out.append(f'<text x="{W - R + 30}" y="{ly + 4}">{name if name != "dense" else "dense presets"}</text>')
        ly += 18
    out.append(f'<circle cx="{W - R + 20}" cy="{ly}" r="4" fill="gray"/>')
    out.append(f'<text x="{W - R + 30}" y="{ly + 4}">filled: SQ4 / Q4_K_M</text>')
    ly += 18
    out.append(f'<circle cx="{W - R + 20}" cy="{ly}" r="4" fill="none" stroke="gray"/>')
    out.append(f'<text x="{W - R + 30}" y="{ly + 4}">open: SQ8 / Q8_0</text>')
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
