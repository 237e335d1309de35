#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Plots adaptive_sim's CSV as an SVG: mean detection delay vs budget, one
panel per trace, round_robin / adaptive / oracle (the sqrt-hazard bound).
Standard library only.

    python3 tests/bench/plot_adaptive.py adaptive.csv tests/bench/adaptive-polling.svg
"""
import csv
import sys

COLOURS = {"round_robin": "#d62728", "adaptive": "#1f77b4", "oracle": "#2ca02c"}
LABELS = {"round_robin": "round_robin", "adaptive": "adaptive",
          "oracle": "bound (true distributions)"}
W, H, PAD_L, PAD_B, PAD_T, PANEL_GAP = 330, 260, 52, 40, 30, 20


def panel(out, x0, trace, rows):
    shares = sorted({float(r["budget_share"]) for r in rows})
    ymax = max(float(r["mean"]) for r in rows) * 1.1
    px = lambda s: x0 + PAD_L + (s - shares[0]) / (shares[-1] - shares[0]) * (W - PAD_L - 10)
    py = lambda v: PAD_T + (1 - v / ymax) * (H - PAD_T - PAD_B)
    out.append(f'<text x="{x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">'
               f'{trace}</text>')
    out.append(f'<line x1="{px(shares[0])}" y1="{py(0)}" x2="{px(shares[-1])}" y2="{py(0)}" '
               'stroke="black"/>')
    out.append(f'<line x1="{px(shares[0])}" y1="{py(0)}" x2="{px(shares[0])}" y2="{PAD_T}" '
               'stroke="black"/>')
    for s in shares:
        out.append(f'<text x="{px(s)}" y="{py(0) + 14}" text-anchor="middle">'
                   f'{round(s * 100)}%</text>')
    step = max(1, round(ymax / 5 / 5) * 5)
    for v in range(0, int(ymax) + 1, step):
        out.append(f'<text x="{px(shares[0]) - 4}" y="{py(v) + 4}" text-anchor="end">{v}</text>')
        out.append(f'<line x1="{px(shares[0])}" y1="{py(v)}" x2="{px(shares[-1])}" y2="{py(v)}" '
                   'stroke="#ddd"/>')
    out.append(f'<text x="{x0 + W / 2 + 20}" y="{H - 6}" text-anchor="middle">'
               'budget (share of polling every job each interval)</text>')
    for strategy, colour in COLOURS.items():
        pts = sorted((float(r["budget_share"]), float(r["mean"]))
                     for r in rows if r["strategy"] == strategy)
        path = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in pts)
        dash = ' stroke-dasharray="5,3"' if strategy == "oracle" else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        for s, v in pts:
            out.append(f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="2.5" fill="{colour}"/>')


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_adaptive.py RESULTS.csv OUT.svg")
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    traces = list(dict.fromkeys(r["trace"] for r in rows))
    width = len(traces) * (W + PANEL_GAP)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{H + 30}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{H + 30}" fill="white"/>',
           f'<text x="12" y="{PAD_T + 60}" transform="rotate(-90 12 {PAD_T + 60})" '
           'text-anchor="end">mean detection delay (s)</text>']
    for i, trace in enumerate(traces):
        panel(out, i * (W + PANEL_GAP), trace, [r for r in rows if r["trace"] == trace])
    for i, (strategy, colour) in enumerate(COLOURS.items()):
        x = 60 + i * 190
        out.append(f'<line x1="{x}" y1="{H + 18}" x2="{x + 24}" y2="{H + 18}" stroke="{colour}" '
                   'stroke-width="2"/>')
        out.append(f'<text x="{x + 30}" y="{H + 22}">{LABELS[strategy]}</text>')
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
