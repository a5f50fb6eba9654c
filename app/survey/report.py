"""The basin survey's report: an HTML page with figures, and the numbers as JSON."""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from app.analysis.attractors import CYCLE, FIXED_POINT, WANDERING  # noqa: E402
from app.survey.survey import START_KINDS, SurveyResult  # noqa: E402

THUMB = 96
MEMBERS_SHOWN = 10


def _png(path: Path, image: np.ndarray, side: int = THUMB) -> str:
    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    pixels = cv2.resize(pixels, (side, side), interpolation=cv2.INTER_NEAREST if pixels.shape[0] < side else cv2.INTER_AREA)
    cv2.imwrite(str(path), pixels[..., ::-1])
    return path.name


def _figures(result: SurveyResult, out: Path) -> dict[str, str]:
    files = {}
    steps = np.arange(1, result.changes.shape[1] + 1)
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    colors = dict(zip(START_KINDS, plt.cm.tab10.colors))
    for i, start in enumerate(result.starts):
        ax.plot(steps, np.maximum(result.changes[i], 1e-7), color=colors[start.kind], alpha=0.5, lw=0.8,
                label=start.kind if start.kind not in ax.get_legend_handles_labels()[1] else None)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("RMS change of the prediction")
    ax.set_title("per-step change, every start")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "changes.png")
    plt.close(fig)
    files["changes"] = "changes.png"

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    for kind, color in ((FIXED_POINT, "tab:green"), (CYCLE, "tab:blue")):
        times = [v.since for v in result.verdicts if v.kind == kind]
        if times:
            ax.hist(times, bins=20, range=(0, result.config.steps), alpha=0.7, color=color, label=f"{kind} ({len(times)})")
    ax.set_xlabel("step at which the attractor was reached")
    ax.set_ylabel("starts")
    ax.set_title("convergence times")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "convergence.png")
    plt.close(fig)
    files["convergence"] = "convergence.png"

    if result.attractors:
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
        shares = [a["share"] * 100 for a in result.attractors]
        ax.bar(range(1, len(shares) + 1), shares, color="tab:purple")
        ax.set_xlabel("attractor")
        ax.set_ylabel("basin share (% of starts)")
        ax.set_title("basin sizes")
        fig.tight_layout()
        fig.savefig(out / "basins.png")
        plt.close(fig)
        files["basins"] = "basins.png"
    return files


def summary(result: SurveyResult) -> dict:
    kinds = Counter(v.kind for v in result.verdicts)
    periods = Counter(v.period for v in result.verdicts if v.kind == CYCLE)
    return {
        "starts": len(result.starts), "steps": result.config.steps, "size": result.config.size,
        "distinct_attractors": len(result.attractors),
        "fixed_points": kinds.get(FIXED_POINT, 0), "cycles": kinds.get(CYCLE, 0),
        "wandering": kinds.get(WANDERING, 0), "periods": {str(k): v for k, v in sorted(periods.items())},
        "basin_shares": [round(a["share"], 4) for a in result.attractors],
    }


def write_report(result: SurveyResult, out: Path, model_name: str, seconds: float,
                 settings: dict | None = None, links: dict[str, str] | None = None) -> Path:
    """``settings``: how the dreams ran beyond the survey's config (shown and kept in the JSON);
    ``links``: label → address of related pages, shown under the title."""
    out = Path(out)
    settings = settings or {}
    (out / "img").mkdir(parents=True, exist_ok=True)
    figures = _figures(result, out)
    facts = summary(result)
    facts.update(model=model_name, seconds=round(seconds, 1))
    starts = [{"kind": s.kind, "label": s.label, "verdict": v.kind, "since": v.since, "period": v.period}
              for s, v in zip(result.starts, result.verdicts)]
    membership = {i: k for k, basin in enumerate(result.basins) for i in basin.members}
    for i, entry in enumerate(starts):
        entry["attractor"] = membership.get(i)
    attractors = [{k: v for k, v in a.items() if k != "members"} | {"starts": a["members"]}
                  for a in result.attractors]
    (out / "report.json").write_text(json.dumps({"summary": facts, "attractors": attractors, "starts": starts,
                                                 "config": {"starts": result.config.starts, "steps": result.config.steps,
                                                            "size": result.config.size, "source": result.config.source,
                                                            "seed": result.config.seed,
                                                            "tolerance": result.config.detector.tolerance,
                                                            "patience": result.config.detector.patience,
                                                            "cluster_tolerance": result.config.cluster_tolerance}
                                                 | settings},
                                                indent=2) + "\n")
    cards = []
    for k, a in enumerate(result.attractors):
        rep = _png(out / "img" / f"attractor-{k + 1:02d}.png", result.end_frames[a["representative"]], 2 * THUMB)
        members = "".join(
            f'<img src="img/{_png(out / "img" / f"start-{i:03d}.png", result.start_frames[i], 48)}" '
            f'title="{html.escape(result.starts[i].label)}" width="48" height="48">'
            for i in a["members"][:MEMBERS_SHOWN])
        kind = "fixed point" if a["kind"] == FIXED_POINT else f"cycle, period {a['period']}"
        more = len(a["members"]) - MEMBERS_SHOWN
        cards.append(f'<div class="card"><img src="img/{rep}" width="{2 * THUMB}" height="{2 * THUMB}">'
                     f'<div><b>#{k + 1}</b> {kind}<br>basin: {a["share"] * 100:.1f}% ({len(a["members"])} starts)</div>'
                     f'<div class="members">{members}{f" +{more}" if more > 0 else ""}</div></div>')
    wandering = [i for i, v in enumerate(result.verdicts) if v.kind == WANDERING]
    wander_html = "".join(
        f'<img src="img/{_png(out / "img" / f"wandering-{i:03d}.png", result.end_frames[i], 64)}" '
        f'title="{html.escape(result.starts[i].label)}" width="64" height="64">' for i in wandering[:40])
    rows = "".join(f"<tr><td>{i}</td><td>{html.escape(s['label'])}</td><td>{s['kind']}</td><td>{s['verdict']}</td>"
                   f"<td>{'' if s['since'] is None else s['since']}</td><td>{s['period'] or ''}</td>"
                   f"<td>{'' if s['attractor'] is None else s['attractor'] + 1}</td></tr>" for i, s in enumerate(starts))
    figure_html = "".join(f'<img src="{f}" alt="{name}">' for name, f in figures.items())
    link_html = " · ".join(f'<a href="{html.escape(href)}">{html.escape(label)}</a>'
                           for label, href in (links or {}).items())
    setting_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                           for k, v in settings.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Basin survey: {html.escape(model_name)}</title>
<style>body{{font-family:sans-serif;margin:24px;background:#15151a;color:#ddd}} h1,h2{{font-weight:500}}
.card{{display:inline-block;vertical-align:top;margin:8px;padding:8px;background:#23232b;border-radius:6px;width:{2 * THUMB + 20}px}}
.members img{{margin:1px}} .figs img{{margin:6px;background:white}} table{{border-collapse:collapse;font-size:12px}}
td,th{{padding:2px 8px;border-bottom:1px solid #333}} .facts td{{font-size:14px}} a{{color:#8cf}}</style></head><body>
<h1>Basin survey — {html.escape(model_name)}</h1>{f'<p>{link_html}</p>' if link_html else ''}
<table class="facts"><tr><td>starts × steps</td><td>{facts['starts']} × {facts['steps']} at {facts['size']}px</td></tr>
<tr><td>distinct attractors</td><td>{facts['distinct_attractors']}</td></tr>
<tr><td>fixed points / cycles / wandering</td><td>{facts['fixed_points']} / {facts['cycles']} / {facts['wandering']}</td></tr>
<tr><td>periods</td><td>{', '.join(f'{p}: {c}' for p, c in facts['periods'].items()) or '—'}</td></tr>
{setting_rows}<tr><td>time</td><td>{facts['seconds']} s</td></tr></table>
<h2>Attractors and their basins</h2><div>{''.join(cards) or '<p>No dream settled.</p>'}</div>
<h2>Figures</h2><div class="figs">{figure_html}</div>
<h2>Still wandering after {facts['steps']} steps ({len(wandering)})</h2><div>{wander_html or '—'}</div>
<h2>Every start</h2><table><tr><th>#</th><th>start</th><th>kind</th><th>verdict</th><th>since</th><th>period</th><th>attractor</th></tr>{rows}</table>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
