"""Dreams of a trained PVM started on held-out frames (seed 000), learning off.

``pvm-static-dream`` shows one frame for ``hold`` steps, then deep-dreams (every unit of every layer
reads its own prediction) for ``dream`` steps, and follows the per-step change of the predicted frame
and where the dream goes: a fixed point, a cycle, or still wandering (the app's attractor detector).

``pvm-replay`` is the dream replay of seed 000: record the inputs and predictions over a pass through a
held-out clip, then, from the model's state at frame ``start`` of that pass, dream (the input frame is
the model's own prediction) as many steps as the pass has left, and correlate every recorded prediction
with every dream frame. A dream that replays the clip lies on the diagonal.

Both take ``feed_lag`` (default 0): the frame the bottom layer reads while dreaming is its own fresh
prediction of it, or with k > 0 the predicted frame of k steps before that; the original's manager
feeds its dream 2 steps late (``app.models.pvm.dreamer``). The layers above dream as before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from app.analysis.attractors import AttractorDetector, DetectorConfig, signature
from app.errors import UserError
from app.experiments.pvm_heldout import held_out_frames, load_pvm, picture, pyplot
from app.models.pvm.dreamer import FrameFeed


def _rms(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).pow(2).mean().sqrt()


def _feed(model, lag: int) -> FrameFeed:
    if lag < 0:
        raise UserError(f"feed_lag must be a step count ≥ 0 (0: the fresh prediction), got {lag}")
    return FrameFeed(model, lag)


def _fed(lag: int) -> str:
    """How the dreaming frame was fed, in words."""
    return "its own fresh prediction" if lag == 0 else \
        f"its predicted frame of {lag} step{'s' if lag > 1 else ''} before its fresh prediction"


# ------------------------------------------------------------------------------- pvm-static-dream
@dataclass
class StaticDreamConfig:
    model: str | None = None
    device: str = "cpu"
    hold: int = 100                              # steps the frame is shown
    dream: int = 300                             # deep-dream steps after it
    starts: tuple[int, ...] = (0, 240, 480)      # held-out frames shown, one dream each
    tolerance: float = 2e-3                      # the detector's RMS change counted as none
    patience: int = 20                           # steps it must stay under that
    strip: tuple[int, ...] = (0, 1, 3, 10, 30, 100, 300)   # dream steps shown (0: the hold's last)
    seed: int = 1                                # seed of the held-out clip (the shipped PVMs trained on seed 2)
    feed_lag: int = 0                            # the frame fed back: 0 fresh, k: k steps late (the original: 2)

    @classmethod
    def quick(cls, seed: int = 1) -> "StaticDreamConfig":
        return cls(hold=10, dream=30, starts=(0, 20), strip=(0, 1, 10, 30), seed=seed)


@dataclass
class StaticDream:
    start: int
    hold_changes: list[float]     # RMS change of the predicted frame at hold steps 2 … hold
    dream_changes: list[float]    # at dream steps 1 … dream (step 1 against the end of the hold)
    verdict: str                  # the detector's at the last step, dream steps counted from 1
    end_distance: float           # RMS of the last dream frame − the frame shown


@dataclass
class StaticDreamResult:
    config: StaticDreamConfig
    model_steps: int
    dreams: list[StaticDream]

    def markdown(self) -> str:
        c = self.config
        marks = sorted({1, 10, 100, c.dream} & set(range(1, c.dream + 1)))
        lines = ["| frame shown | change, end of the hold | " + " | ".join(f"dream step {k}" for k in marks)
                 + " | where the dream went | RMS from the frame shown at the end |",
                 "|---:|---:|" + "---:|" * len(marks) + "---|---:|"]
        for d in self.dreams:
            hold = f"{d.hold_changes[-1]:.2e}" if d.hold_changes else ""
            lines.append(f"| {d.start} | {hold} | " + " | ".join(f"{d.dream_changes[k - 1]:.2e}" for k in marks)
                         + f" | {d.verdict} | {d.end_distance:.4f} |")
        lines += ["", f"RMS per-step change of the predicted frame; each held-out frame (clip seed {c.seed}) shown "
                      f"for {c.hold} steps, then {c.dream} steps of deep dream (the bottom layer reading "
                      f"{_fed(c.feed_lag)}), learning off, model at step {self.model_steps}. A fixed point: the change "
                      f"of the prediction and the top layer stays under {c.tolerance:g} for {c.patience} steps."]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "model_steps": self.model_steps,
                "dreams": [asdict(d) for d in self.dreams]}


def run_static_dream(cfg: StaticDreamConfig, out: Path, progress: bool = True) -> StaticDreamResult:
    model = load_pvm(cfg.model, cfg.device)
    trained = model.steps
    frames = held_out_frames(cfg.starts, model.spec.frame_size, cfg.seed, model.device, progress)
    deep = [1.0] * model.spec.n_layers
    feed = _feed(model, cfg.feed_lag)
    start_state = model.state_dict()
    dreams, strips = [], []
    with tqdm(total=len(cfg.starts) * (cfg.hold + cfg.dream), desc="pvm-static-dream", disable=not progress) as bar:
        for start, frame in zip(cfg.starts, frames):
            model.load_state_dict(start_state)
            feed.clear()
            detector = AttractorDetector(DetectorConfig(cfg.tolerance, cfg.patience))
            changes, strip, previous = [], {}, None
            for step in range(cfg.hold + cfg.dream):
                k = step - cfg.hold + 1                               # dream step, ≤ 0 while holding
                result = feed.dream(frame, deep) if k > 0 else feed.step(frame)
                predicted = result.predicted_frame
                if previous is not None:
                    changes.append(_rms(predicted, previous))
                previous = predicted
                if k > 0:
                    detector.update(k, signature(predicted.cpu().numpy(), result.hidden[-1].cpu().numpy()))
                if k in cfg.strip:
                    strip[k] = predicted
                bar.update()
            changes = torch.stack(changes).tolist()
            dreams.append(StaticDream(start, changes[:cfg.hold - 1], changes[cfg.hold - 1:],
                                      detector.verdict.describe(), _rms(previous, frame.permute(1, 2, 0)).item()))
            strips.append((frame.permute(1, 2, 0), strip))
    result = StaticDreamResult(cfg, trained, dreams)
    static_dream_figure(result, strips, out / "pvm_static_dream.png")
    return result


def static_dream_figure(result: StaticDreamResult, strips: list[tuple[Tensor, dict[int, Tensor]]], path: Path) -> None:
    """Top: the per-step change of every dream (log scale), the hold shaded. Below, per frame shown:
    the frame, then the predicted frame at the strip's dream steps."""
    plt = pyplot()
    c = result.config
    shown = sorted(strips[0][1])
    columns = 1 + len(shown)
    fig = plt.figure(figsize=(max(8, 1.25 * columns + 1), 3.6 + 1.3 * len(strips)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.6, 1.3 * len(strips)])
    ax = top.subplots()
    for i, d in enumerate(result.dreams):
        series = np.maximum(np.array(d.hold_changes + d.dream_changes), 1e-9)
        ax.plot(np.arange(2, len(series) + 2) - c.hold, series, color=f"C{i}", label=f"frame {d.start}: {d.verdict}")
    ax.axvspan(1 - c.hold, 0.5, color="gray", alpha=0.15, label="frame shown")
    ax.axhline(c.tolerance, color="gray", ls=":", lw=1, label="detector tolerance")
    ax.set(yscale="log", xlabel="dream step (≤ 0: the frame is shown)", ylabel="RMS change of the predicted frame",
           title="static frame, then deep dream")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    axes = bottom.subplots(len(strips), columns, squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.1})
    for r, ((frame, strip), d) in enumerate(zip(strips, result.dreams)):
        panels = [("frame shown", frame)] + [(f"dream step {k}" if k else "end of the hold", strip[k]) for k in shown]
        for col, (title, image) in enumerate(panels):
            a = axes[r, col]
            a.imshow(picture(image), interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(title, fontsize=8)
        axes[r, 0].set_ylabel(f"frame {d.start}", fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


# ------------------------------------------------------------------------------------- pvm-replay
@dataclass
class ReplayConfig:
    model: str | None = None
    device: str = "cpu"
    warmup: int = 100        # held-out frames seen before the recorded pass
    frames: int = 300        # frames of the recorded pass
    start: int = 0           # the frame of the pass the dream starts from
    window: int = 5          # a dream frame replays when its best match is this close to the diagonal
    strip: int = 8           # dream steps shown beside the recording
    seed: int = 1            # seed of the held-out clip (the shipped PVMs trained on seed 2)
    feed_lag: int = 0        # the frame fed back: 0 fresh, k: k steps late (the original: 2)

    @classmethod
    def quick(cls, seed: int = 1) -> "ReplayConfig":
        return cls(warmup=10, frames=30, window=3, strip=4, seed=seed)


@dataclass
class ReplayResult:
    config: ReplayConfig
    model_steps: int
    correlation: list[list[float]]   # [recorded step][dream step]: Pearson r of the two predicted frames
    diagonal: list[float]            # r of dream step j and recorded step start + j
    frozen: list[float]              # r of recorded steps start and start + j: a dream stuck on its first frame
    best_match: list[int]            # per dream step, the recorded step it correlates with most
    off_diagonal: float              # mean r off the diagonal

    @property
    def replayed(self) -> float:
        """Fraction of dream steps whose best match lies within ``window`` steps of the diagonal."""
        start, window = self.config.start, self.config.window
        return float(np.mean([abs(b - (start + j)) <= window for j, b in enumerate(self.best_match)]))

    def markdown(self) -> str:
        c = self.config
        marks = [j for j in (0, 1, 10, 30, 100, 300) if j < len(self.diagonal)]
        lag = np.median([abs(b - (c.start + j)) for j, b in enumerate(self.best_match)])
        lines = ["| measure | value |", "|---|---:|",
                 f"| mean r on the diagonal (dream step j, recorded step {c.start} + j) | "
                 f"{np.mean(self.diagonal):.3f} |",
                 f"| the same for a dream frozen on its first frame | {np.mean(self.frozen):.3f} |",
                 f"| mean r off the diagonal | {self.off_diagonal:.3f} |",
                 f"| dream steps whose best match is within {c.window} steps of the diagonal | {self.replayed:.0%} |",
                 f"| median distance of the best match from the diagonal (steps) | {lag:.0f} |"]
        lines += [f"| r on the diagonal at dream step {j} | {self.diagonal[j]:.3f} |" for j in marks]
        lines += ["", f"Recorded pass: {c.frames} held-out frames (clip seed {c.seed}) after {c.warmup} of warm-up; "
                      f"dream from the state at frame {c.start} of the pass for {len(self.diagonal)} steps, the input "
                      f"frame being {_fed(c.feed_lag)}; learning off, model at step {self.model_steps}."]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "model_steps": self.model_steps, "replayed": self.replayed,
                "off_diagonal": self.off_diagonal, "diagonal": self.diagonal, "frozen": self.frozen,
                "best_match": self.best_match, "correlation": self.correlation}


def correlations(a: Tensor, b: Tensor) -> Tensor:
    """(n, m) Pearson correlations between the n images of ``a`` and the m of ``b`` (0 for a flat image)."""
    def unit(x: Tensor) -> Tensor:
        x = x.reshape(len(x), -1).double()
        x = x - x.mean(1, keepdim=True)
        return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit(a) @ unit(b).T


def run_replay(cfg: ReplayConfig, out: Path, progress: bool = True) -> ReplayResult:
    model = load_pvm(cfg.model, cfg.device)
    trained = model.steps
    frames = held_out_frames(range(cfg.warmup + cfg.frames), model.spec.frame_size, cfg.seed, model.device, progress)
    full_dream = [1.0] + [0.0] * (model.spec.n_layers - 1)
    feed = _feed(model, cfg.feed_lag)
    length = cfg.frames - cfg.start
    recorded, dreamed = [], []
    with tqdm(total=len(frames) + length, desc="pvm-replay", disable=not progress) as bar:
        for t, frame in enumerate(frames):
            if t == cfg.warmup + cfg.start:
                state, fed = model.state_dict(), feed.snapshot()
            predicted = feed.step(frame).predicted_frame
            if t >= cfg.warmup:
                recorded.append(predicted)
            bar.update()
        model.load_state_dict(state)
        feed.restore(fed)
        for _ in range(length):
            dreamed.append(feed.dream(frames[cfg.warmup + cfg.start], full_dream).predicted_frame)
            bar.update()
    recorded, dreamed = torch.stack(recorded), torch.stack(dreamed)
    r = correlations(recorded, dreamed)
    j = torch.arange(length, device=r.device)
    on_diagonal = torch.zeros_like(r, dtype=torch.bool)
    on_diagonal[cfg.start + j, j] = True
    result = ReplayResult(
        cfg, trained, correlation=r.tolist(), diagonal=r[cfg.start + j, j].tolist(),
        frozen=correlations(recorded[cfg.start:cfg.start + 1], recorded[cfg.start:])[0].tolist(),
        best_match=r.argmax(0).tolist(), off_diagonal=r[~on_diagonal].mean().item())
    replay_figure(result, frames[cfg.warmup:].permute(0, 2, 3, 1), recorded, dreamed, out / "pvm_replay.png")
    return result


def replay_figure(result: ReplayResult, inputs: Tensor, recorded: Tensor, dreamed: Tensor, path: Path) -> None:
    """The correlation matrix with the diagonal and each dream step's best match; r along the diagonal
    against a dream frozen on its first frame; and the recorded inputs and predictions over the dream."""
    plt = pyplot()
    c = result.config
    length = len(result.diagonal)
    shown = np.unique(np.linspace(0, length - 1, c.strip).round().astype(int))
    fig = plt.figure(figsize=(max(10, 1.3 * len(shown) + 1), 5.2 + 1.3 * 3), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[5.2, 1.3 * 3])
    matrix_ax, curve_ax = top.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    image = matrix_ax.imshow(np.array(result.correlation), cmap="RdBu_r", vmin=-1, vmax=1, origin="lower",
                             aspect="auto", interpolation="nearest")
    top.colorbar(image, ax=matrix_ax, label="Pearson r")
    j = np.arange(length)
    matrix_ax.plot(j, c.start + j, color="k", lw=0.8, ls="--", label="diagonal")
    matrix_ax.scatter(j, result.best_match, s=4, color="yellow", edgecolors="k", linewidths=0.2, label="best match")
    matrix_ax.set(xlabel="dream step", ylabel="recorded step", title="recorded predictions × dream frames")
    matrix_ax.legend(fontsize=7, loc="upper left")
    curve_ax.plot(j, result.diagonal, label="dream vs recording, same step")
    curve_ax.plot(j, result.frozen, label="a dream frozen on its first frame")
    curve_ax.axhline(result.off_diagonal, color="gray", ls=":", label="mean off the diagonal")
    curve_ax.set(xlabel="dream step", ylabel="r", ylim=(-1, 1), title="r along the diagonal")
    curve_ax.grid(alpha=0.3)
    curve_ax.legend(fontsize=7)
    rows = (("recorded input", inputs[c.start:]), ("recorded prediction\n(of the next input)", recorded[c.start:]),
            ("dream", dreamed))
    axes = bottom.subplots(len(rows), len(shown), squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.1})
    for r, (label, images) in enumerate(rows):
        for col, k in enumerate(shown):
            a = axes[r, col]
            a.imshow(picture(images[k]), interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(f"step {k}", fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
