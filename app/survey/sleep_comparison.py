"""A model's basin surveys before and after sleep, side by side: ``comparison.html`` with figures, and
the numbers as ``comparison.json``. The two full reports sit in ``before/`` and ``after/``."""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from app.survey.in_turn import BeforeAfter, InTurnConfig, SleepRecord  # noqa: E402
from app.survey.report import summary  # noqa: E402
from app.survey.survey import SurveyResult  # noqa: E402

PHASES = ("before", "after")
HISTOGRAM_BINS = 20
ATTRACTORS_SHOWN = 8


def phase_facts(result: SurveyResult) -> dict:
    """The survey's summary, plus the largest basin, the convergence times and how much the dreams
    still move at the end (median over starts of the mean change over the detector's patience)."""
    facts = summary(result)
    times = [v.since for v in result.verdicts if v.since is not None]
    counts, edges = np.histogram(times, bins=HISTOGRAM_BINS, range=(0, result.config.steps))
    late = result.changes[:, -result.config.detector.patience:].mean(axis=1)
    facts.update(largest_basin_share=max(facts["basin_shares"], default=0.0),
                 settled_share=round(len(times) / len(result.verdicts), 4),
                 convergence_median=float(np.median(times)) if times else None,
                 convergence_mean=round(float(np.mean(times)), 1) if times else None,
                 convergence_histogram={"counts": counts.tolist(), "bin_edges": edges.tolist()},
                 late_change_median=float(np.median(late)))
    return facts


def sleep_facts(record: SleepRecord, config: InTurnConfig) -> dict:
    dreams, steps = record.changes.shape
    return {"dreams": dreams, "steps_per_dream": steps, "hold": config.hold,
            "threshold": config.sleep.threshold, "patience": config.sleep.patience, "rate": config.sleep.rate,
            "episodes": int(sum(record.episodes)), "episodes_per_dream": record.episodes,
            "dreams_that_slept": int(sum(e > 0 for e in record.episodes)),
            "sleeping_steps": int(record.asleep.sum()), "sleeping_share": round(float(record.asleep.mean()), 4),
            "lowest_change": float(record.changes.min()),
            "relative_weight_change": {k: round(v, 6) for k, v in record.weight_change.items()},
            "starts": record.labels, "seconds": round(record.seconds, 1)}


def _survey_figure(facts: dict[str, dict], path: Path) -> None:
    fig, (times, basins) = plt.subplots(1, 2, figsize=(10, 3.4), dpi=110)
    for phase, color, style in zip(PHASES, ("tab:blue", "tab:orange"), ("-", "--")):
        hist = facts[phase]["convergence_histogram"]
        times.stairs(hist["counts"], hist["bin_edges"], color=color, ls=style, lw=1.8,
                     label=f"{phase} ({sum(hist['counts'])} settled)")
        shares = facts[phase]["basin_shares"]
        offset = -0.2 if phase == "before" else 0.2
        basins.bar(np.arange(1, len(shares) + 1) + offset, [s * 100 for s in shares], width=0.4, color=color,
                   label=f"{phase} ({len(shares)} attractor{'' if len(shares) == 1 else 's'})")
    times.set_xlabel("step at which the attractor was reached")
    times.set_ylabel("starts")
    times.set_title("convergence times")
    basins.set_xlabel("attractor (largest basin first)")
    basins.set_ylabel("basin share (% of starts)")
    basins.set_title("basin sizes")
    ranks = max(len(facts[p]["basin_shares"]) for p in PHASES)
    basins.set_xticks(range(1, ranks + 1))
    if not ranks:
        basins.text(0.5, 0.5, "no dream settled", ha="center", va="center", transform=basins.transAxes)
    times.set_ylim(bottom=0)
    basins.set_ylim(0, 100)
    for ax in (times, basins):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _sleep_figure(record: SleepRecord, threshold: float, path: Path) -> None:
    dreams, steps = record.changes.shape
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=110)
    t = np.arange(dreams * steps)
    change = np.maximum(record.changes.ravel(), 1e-7)
    ax.plot(t, change, color="tab:gray", lw=0.6, label="per-step change")
    asleep = record.asleep.ravel()
    ax.scatter(t[asleep], change[asleep], s=2, color="tab:red", label=f"asleep ({int(asleep.sum())} steps)")
    ax.axhline(threshold, color="tab:green", ls="--", lw=1, label="settled below")
    for d in range(1, dreams):
        ax.axvline(d * steps, color="black", alpha=0.15, lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("sleep-dream step (dreams one after another)")
    ax.set_ylabel("RMS change of the prediction")
    ax.set_title("sleep: full dreams, negative learning while settled")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _gallery(phase: str, facts: dict, out: Path) -> str:
    images = sorted((out / phase / "img").glob("attractor-*.png"))[:ATTRACTORS_SHOWN]
    shares = facts["basin_shares"]
    cells = "".join(f'<figure><img src="{phase}/img/{p.name}" width="96" height="96">'
                    f'<figcaption>#{k + 1}: {shares[k] * 100:.0f}%</figcaption></figure>' for k, p in enumerate(images))
    return cells or "<p>No dream settled.</p>"


def write_comparison(result: BeforeAfter, config: InTurnConfig, out: Path, model_name: str) -> Path:
    """``out/comparison.html`` and ``comparison.json``; the reports must already be in out/before and out/after."""
    out = Path(out)
    facts = {"before": phase_facts(result.before), "after": phase_facts(result.after)}
    for phase in PHASES:
        facts[phase]["seconds"] = round(result.seconds[phase], 1)
    slept = sleep_facts(result.sleep, config)
    _survey_figure(facts, out / "comparison.png")
    _sleep_figure(result.sleep, config.sleep.threshold, out / "sleep.png")
    (out / "comparison.json").write_text(json.dumps({
        "model": model_name, "dream": config.dream, "hold": config.hold, "sleep": slept,
        "before": facts["before"], "after": facts["after"]}, indent=2) + "\n")

    def row(label: str, key: str, fmt=str) -> str:
        cells = "".join(f"<td>{'—' if facts[p][key] is None else fmt(facts[p][key])}</td>" for p in PHASES)
        return f"<tr><td>{label}</td>{cells}</tr>"

    percent = "{:.1%}".format
    rows = "".join((
        row("distinct attractors", "distinct_attractors"),
        row("fixed points", "fixed_points"), row("cycles", "cycles"), row("still wandering", "wandering"),
        row("settled", "settled_share", percent), row("largest basin", "largest_basin_share", percent),
        row("median convergence step", "convergence_median", "{:.0f}".format),
        row("late per-step change (median)", "late_change_median", "{:.2e}".format),
        row("time (s)", "seconds")))
    weights = ", ".join(f"{k} {v:.2e}" for k, v in slept["relative_weight_change"].items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Sleep: {html.escape(model_name)}</title>
<style>body{{font-family:sans-serif;margin:24px;background:#15151a;color:#ddd}} h1,h2{{font-weight:500}}
table{{border-collapse:collapse;font-size:14px}} td,th{{padding:3px 12px;border-bottom:1px solid #333}}
.figs img{{margin:6px;background:white}} figure{{display:inline-block;margin:4px;text-align:center;font-size:12px}}
a{{color:#8cf}}</style></head><body>
<h1>Before and after sleep — {html.escape(model_name)}</h1>
<p>Full reports: <a href="before/report.html">before sleep</a> · <a href="after/report.html">after sleep</a></p>
<p>{result.before.config.starts} starts × {result.before.config.steps} steps of {config.dream} dream, each after
{config.hold} steps of its start frame with learning off. Sleep: {slept['dreams']} full dreams of
{slept['steps_per_dream']} steps; once the predicted frame's change stayed under {slept['threshold']:g} for
{slept['patience']} steps, the model learned at rate −{slept['rate']:g} until it moved again.</p>
<table><tr><th></th><th>before</th><th>after</th></tr>{rows}</table>
<h2>Sleep</h2>
<table><tr><td>episodes</td><td>{slept['episodes']} (in {slept['dreams_that_slept']} of {slept['dreams']} dreams)</td></tr>
<tr><td>lowest per-step change</td><td>{slept['lowest_change']:.2e}</td></tr>
<tr><td>steps asleep</td><td>{slept['sleeping_steps']} ({slept['sleeping_share']:.1%} of the sleep dreams' steps)</td></tr>
<tr><td>relative weight change</td><td>{html.escape(weights)}</td></tr>
<tr><td>time</td><td>{slept['seconds']} s</td></tr></table>
<h2>Figures</h2><div class="figs"><img src="comparison.png"><img src="sleep.png"></div>
<h2>Largest basins before</h2><div>{_gallery("before", facts["before"], out)}</div>
<h2>Largest basins after</h2><div>{_gallery("after", facts["after"], out)}</div>
</body></html>"""
    path = out / "comparison.html"
    path.write_text(page)
    return path
