"""The figures of a dream check as text tables and as JSON."""

from __future__ import annotations

from app.analysis.reference import PERIODIC_MARGIN, Reference
from app.analysis.verdict import Check, DreamFigures, Thresholds

LOOK_COLUMNS = "periodic  clipped  one colour   slope"
REFERENCE_HEADER = f"{'':>15}  {LOOK_COLUMNS}"
HEADER = f"{'':>15}  {LOOK_COLUMNS}  change  max change  drift  look"


def _look(periodic: float, clipped: float, one_colour: float, slope: float) -> str:
    return f"  10^{periodic:4.1f}  {100 * clipped:6.1f}%  {100 * one_colour:9.0f}%  {slope:6.2f}"


def dreams_table(dreams: list[DreamFigures], groups: list[int]) -> str:
    """One line per seed: the end frame's look, the motion over the window and which look it ends in."""
    lines = [HEADER]
    for d, group in zip(dreams, groups):
        look, motion = d.look, d.motion
        lines.append(f"{'seed ' + str(d.seed):>15}{_look(look.periodic, look.clipped, look.one_colour, look.slope)}"
                     f"  {motion.mean_change:6.4f}  {motion.max_change:10.4f}  {motion.drift:5.3f}  {group:>4}")
    return "\n".join(lines)


def reference_table(reference: Reference) -> str:
    """The lowest and highest of each figure over the photos, and over the clip's frames."""
    lines = []
    for label, figures in (("photos", reference.photos), ("sample clip", reference.clip)):
        values = list(figures.values())
        low = _look(*(min(getattr(f, k) for f in values) for k in ("periodic", "clipped", "one_colour", "slope")))
        high = _look(*(max(getattr(f, k) for f in values) for k in ("periodic", "clipped", "one_colour", "slope")))
        lines.append(f"{label + ' min':>15}{low}")
        lines.append(f"{label + ' max':>15}{high}")
    lines.append(f"periodic peaks up to 10^{reference.periodic_limit:.1f} pass at {reference.size}²: the photos' "
                 f"highest + {PERIODIC_MARGIN:g}")
    return "\n".join(lines)


def check_lines(checks: list[Check]) -> str:
    return "\n".join(f"  {'pass' if c.passed else 'FAIL'}  {c.name}: {c.line}" for c in checks)


def start_dict(start: str, dreams: list[DreamFigures], groups: list[int], checks: list[Check]) -> dict:
    return {"start": start, "dreams": [{**d.to_dict(), "look": g} for d, g in zip(dreams, groups)],
            "distinct_looks": len(set(groups)), "checks": [c.to_dict() for c in checks],
            "passed": all(c.passed for c in checks)}


def size_dict(reference: Reference, limits: Thresholds, starts: list[dict]) -> dict:
    return {"size": reference.size, "thresholds": limits.to_dict(), "reference": reference.to_dict(),
            "starts": starts}
