"""Whether a model's dreams are worth watching: the figures of each dream, the limits, and one check
per way a dream fails a viewer.

A model passes at a size and start when every seed's dream passes every check:

- periodic: the end frame's periodic peak within the limit the photos set at that size
  (``app.analysis.reference``);
- clipping: at most 5% of the end frame's pixels clipped;
- one-colour field: one colour covers at most 90% of the end frame;
- boiling and stillness: a mean per-step change between 0.002 and 0.02 over the motion window
  (``app.analysis.motion``);
- death: some step of the window changes the picture by 0.001 or more;
- drift: the frames that open and close the window differ by at least 0.05 RMS;
- sameness: the seeds end in at least half as many visibly different looks as there are seeds
  (4 of 8; ``app.analysis.motion.look_groups``);
- finite: no step produced NaN or inf.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from app.analysis.dream_runs import DreamTrace
from app.analysis.looks import LookFigures, look_figures
from app.analysis.motion import MotionFigures, look_groups, motion_figures, motion_window


@dataclass(frozen=True)
class Thresholds:
    periodic: float                     # log10 of the highest periodic peak allowed
    looks: int                          # distinct end looks needed
    clipped: float = 0.05
    one_colour: float = 0.9
    change: tuple[float, float] = (0.002, 0.02)
    still: float = 1e-3
    drift: float = 0.05

    @classmethod
    def for_seeds(cls, periodic_limit: float, seeds: int) -> Thresholds:
        return cls(periodic=periodic_limit, looks=math.ceil(seeds / 2))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DreamFigures:
    seed: int
    look: LookFigures        # of the end frame
    motion: MotionFigures
    finite: bool

    def to_dict(self) -> dict:
        return {"seed": self.seed, **self.look.to_dict(), **self.motion.to_dict(), "finite": self.finite}


def dream_figures(trace: DreamTrace) -> DreamFigures:
    end = trace.steps
    motion = motion_figures(trace.changes, trace.frames[end - motion_window(end)], trace.frames[end])
    look = look_figures(trace.frames[end])
    return DreamFigures(trace.seed, look, motion, trace.finite and look.finite)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    line: str                # what was measured against what was needed, one line

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Limit:
    name: str
    figure: Callable[[DreamFigures], float]
    limit: float
    upper: bool              # the figure may not exceed the limit (else: may not fall below it)
    says: str                # the measure, formatted with the worst value, the limit and the window


def _per_seed(rule: _Limit, dreams: list[DreamFigures]) -> Check:
    """``rule`` on every dream: the line names the failing seeds (or every seed) and the worst value
    among them."""
    values = np.array([rule.figure(d) for d in dreams], np.float64)
    failing = values > rule.limit if rule.upper else values < rule.limit
    shown = values[failing] if failing.any() else values
    worst = (np.nanmax if rule.upper else np.nanmin)(shown) if np.isfinite(shown).any() else float("nan")
    who = _seed_list([d.seed for d, bad in zip(dreams, failing) if bad]) if failing.any() else "every seed"
    window = dreams[0].motion.window
    return Check(rule.name, not failing.any(), f"{who}: " + rule.says.format(worst=worst, limit=rule.limit,
                                                                              window=window))


def _seed_list(seeds: list[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def checks(dreams: list[DreamFigures], groups: list[int], limits: Thresholds) -> list[Check]:
    """Every check on the dreams of one model at one size and start; ``groups``: ``look_groups`` of
    their end frames."""
    low, high = limits.change
    rules = (
        _Limit("periodic", lambda d: d.look.periodic, limits.periodic, True,
               "periodic peak up to 10^{worst:.1f} (limit 10^{limit:.1f})"),
        _Limit("clipping", lambda d: d.look.clipped, limits.clipped, True,
               "up to {worst:.1%} of pixels clipped (limit {limit:.0%})"),
        _Limit("one-colour field", lambda d: d.look.one_colour, limits.one_colour, True,
               "one colour covers up to {worst:.0%} of the frame (limit {limit:.0%})"),
        _Limit("boiling", lambda d: d.motion.mean_change, high, True,
               "mean step change up to {worst:.4f} over the last {window} steps (limit {limit:g})"),
        _Limit("stillness", lambda d: d.motion.mean_change, low, False,
               "mean step change down to {worst:.4f} over the last {window} steps (needs ≥ {limit:g})"),
        _Limit("death", lambda d: d.motion.max_change, limits.still, False,
               "largest step change over the last {window} steps down to {worst:.2g} (needs ≥ {limit:g})"),
        _Limit("drift", lambda d: d.motion.drift, limits.drift, False,
               "frames {window} steps apart differ by down to {worst:.3f} RMS (needs ≥ {limit:g})"),
    )
    broken = [d.seed for d in dreams if not d.finite]
    result = [Check("finite", not broken, f"{_seed_list(broken)}: NaN/inf in the dream" if broken
                    else "every seed: no NaN/inf")]
    result += [_per_seed(rule, dreams) for rule in rules]
    looks = len(set(groups))
    result.append(Check("sameness", looks >= limits.looks,
                        f"{looks} visibly different end look{'' if looks == 1 else 's'} among {len(dreams)} seeds "
                        f"(needs ≥ {limits.looks})"))
    return result


def judge(traces: list[DreamTrace], limits: Thresholds) -> tuple[list[DreamFigures], list[int], list[Check]]:
    """The figures, look groups and checks of one model's dreams at one size and start."""
    dreams = [dream_figures(t) for t in traces]
    groups = look_groups([t.frames[t.steps] for t in traces])
    return dreams, groups, checks(dreams, groups, limits)
