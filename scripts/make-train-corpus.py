#!/usr/bin/env python3
"""Split ../shared/data into a training text and a held-out text.

Each file (in sorted name order) gives its last FRACTION of bytes, cut at a
line start, to the held-out text and the rest to the training text, so the
held-out text covers every source (plays, novels, speeches, Wikipedia) and
no byte of it is trained on. Deterministic: same inputs, same outputs.

usage: make-train-corpus.py DATA_DIR OUT_DIR [--fraction 0.05]
writes OUT_DIR/train.txt and OUT_DIR/heldout.txt
"""
import argparse
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--fraction", type=float, default=0.05)
    a = ap.parse_args()
    if not 0 < a.fraction < 1:
        sys.exit("--fraction must be in (0, 1)")
    names = sorted(n for n in os.listdir(a.data_dir) if n.endswith((".txt", ".raw")))
    if not names:
        sys.exit(f"{a.data_dir}: no .txt or .raw files")
    os.makedirs(a.out_dir, exist_ok=True)
    train, held = [], []
    for n in names:
        with open(os.path.join(a.data_dir, n), "rb") as f:
            b = f.read()
        cut = int(len(b) * (1 - a.fraction))
        nl = b.find(b"\n", cut)
        cut = len(b) if nl < 0 else nl + 1
        train.append(b[:cut])
        held.append(b[cut:])
        print(f"{n}: {cut} train bytes, {len(b) - cut} held out")
    for name, parts in (("train.txt", train), ("heldout.txt", held)):
        path = os.path.join(a.out_dir, name)
        with open(path + ".tmp", "wb") as f:
            for p in parts:
                f.write(p)
                if p and not p.endswith(b"\n"):
                    f.write(b"\n")
        os.replace(path + ".tmp", path)
        print(f"wrote {path}: {sum(len(p) for p in parts)} bytes")


if __name__ == "__main__":
    main()
