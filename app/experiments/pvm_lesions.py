"""Context lesions of a trained PVM on held-out frames (seed 000): prediction error, and filling in a spot.

``pvm-lesions`` runs the model, learning off, over a held-out clip with all its context, without
feedback, without lateral context and without either (those context inputs become zeros, the weights
stay), and reports the mean |signal − prediction| of the frame and of every layer. Every condition
starts from the same state and first sees ``warmup`` frames that are not counted. Beside them stand
the baselines of ``app.models.pvm.baselines`` on the same frames: copying the previous frame, copying
its block means, and a least-squares predictor from a unit's own inputs fit on ``train_frames``
frames of the training clip.

``pvm-fill-in`` covers a central square of every input frame — with gray (the paper's blind spot) or
with the model's own prediction of it (the dream spot) — and measures how far the predicted next frame
is from the true, uncovered frame inside the square and outside it, intact and lesioned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from app.experiments.pvm_heldout import CONTEXTS, INTACT, context_switched_on, held_out_frames, load_pvm, picture, \
    pyplot, training_frames
from app.models.pvm.baselines import baseline_errors
from app.models.pvm.model import PVM

GRAY = 0.5
SPOTS = ("blind spot", "dream spot")
BASELINE_LABELS = {"copy": "copy the previous frame", "block_mean": "copy its block means",
                   "least_squares": "least squares, a unit's own inputs"}


def _schedule_note(context_on: bool, steps: int) -> str:
    if context_on:
        return ""
    return (f" The spec's schedule had not switched all context on by the model's step {steps}, so the lesions "
            f"cut less than their names say.")


# ------------------------------------------------------------------------------------- pvm-lesions
@dataclass
class LesionsConfig:
    model: str | None = None
    device: str = "cpu"
    warmup: int = 100        # held-out frames seen first, not measured (per condition)
    frames: int = 600        # frames measured
    seed: int = 1            # seed of the held-out clip (the shipped PVMs trained on seed 2)
    train_frames: int = 5400  # frames of the training clip the least-squares baseline is fit on

    @classmethod
    def quick(cls, seed: int = 1) -> "LesionsConfig":
        return cls(warmup=10, frames=40, seed=seed, train_frames=300)


@dataclass
class LesionScore:
    context: str
    frame_error: float            # mean |frame − prediction|
    layer_errors: list[float]     # the same for the signal of layers 1 … L−1


@dataclass
class LesionsResult:
    config: LesionsConfig
    model_steps: int
    context_on: bool
    scores: list[LesionScore]
    baselines: dict[str, float]   # app.models.pvm.baselines on the measured frames

    def markdown(self) -> str:
        layers = len(self.scores[0].layer_errors)
        intact = self.scores[0].frame_error
        names = " | ".join(f"layer {layer}" for layer in range(1, layers + 1))
        lines = [f"| context | frame error ↓ | × all context | {names} |", "|---|---:|---:|" + "---:|" * layers]
        for s in self.scores:
            lines.append(f"| {s.context} | {s.frame_error:.4f} | {s.frame_error / intact:.2f} | "
                         + " | ".join(f"{e:.4f}" for e in s.layer_errors) + " |")
        c = self.config
        lines += ["", f"Mean |signal − prediction| over {c.frames} held-out frames (clip seed {c.seed}) after "
                      f"{c.warmup} frames of warm-up, learning off, model at step {self.model_steps}. Baselines "
                      f"on the same frames: copying the previous frame {self.baselines['copy']:.4f}, copying its "
                      f"block means {self.baselines['block_mean']:.4f}, least squares from a unit's own inputs "
                      f"(fit on {c.train_frames} frames of the training clip) {self.baselines['least_squares']:.4f}."
                      + _schedule_note(self.context_on, self.model_steps)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "model_steps": self.model_steps, "context_on": self.context_on,
                "scores": [asdict(s) for s in self.scores], "baselines": self.baselines}


def run_lesions(cfg: LesionsConfig, out: Path, progress: bool = True) -> LesionsResult:
    model = load_pvm(cfg.model, cfg.device)
    trained, context_on = model.steps, context_switched_on(model)
    frames = held_out_frames(range(cfg.warmup + cfg.frames), model.spec.frame_size, cfg.seed, model.device, progress)
    start = model.state_dict()
    scores = []
    with tqdm(total=len(CONTEXTS) * len(frames), desc="pvm-lesions", disable=not progress) as bar:
        for context in CONTEXTS:
            model.load_state_dict(start)
            context.apply(model)
            total = torch.zeros(model.spec.n_layers, device=model.device)
            for t, frame in enumerate(frames):
                errors = model.step(frame).layer_errors
                if t >= cfg.warmup:
                    total += errors
                bar.update()
            errors = (total / cfg.frames).tolist()
            scores.append(LesionScore(context.name, errors[0], errors[1:]))
    train = training_frames(range(cfg.train_frames), model.spec.frame_size, model.device, progress)
    baselines = baseline_errors(model.spec, train, frames, cfg.warmup).to_dict()
    result = LesionsResult(cfg, trained, context_on, scores, baselines)
    lesions_figure(result, out / "pvm_lesions.png")
    return result


def lesions_figure(result: LesionsResult, path: Path) -> None:
    """The frame error per condition beside the repeat-the-frame baseline; each layer's error relative
    to the intact model's."""
    plt = pyplot()
    names = [s.context for s in result.scores]
    colors = [f"C{i}" for i in range(len(names))]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    bars = left.bar(names, [s.frame_error for s in result.scores], color=colors)
    left.bar_label(bars, fmt="%.4f", fontsize=8)
    for (name, label), style in zip(BASELINE_LABELS.items(), ("--", ":", "-.")):
        left.axhline(result.baselines[name], color="gray", ls=style, label=label)
    left.set(ylabel="mean |frame − prediction|", title="frame prediction error (held-out)")
    left.tick_params(axis="x", labelsize=8)
    left.legend(fontsize=8, loc="lower right")
    layers = np.arange(1, len(result.scores[0].layer_errors) + 1)
    intact = np.array(result.scores[0].layer_errors)
    width = 0.8 / len(names)
    for i, s in enumerate(result.scores):
        right.bar(layers + (i - (len(names) - 1) / 2) * width, np.array(s.layer_errors) / intact, width,
                  color=colors[i], label=s.context)
    right.axhline(1, color="gray", lw=0.8)
    right.set(xlabel="layer (its signal: the states of the layer below)", ylabel="error ÷ error with all context",
              title="per layer", xticks=layers)
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------ pvm-fill-in
@dataclass
class FillInConfig:
    model: str | None = None
    device: str = "cpu"
    warmup: int = 100        # held-out frames seen first, with the spot, not measured
    frames: int = 300        # frames measured
    spot: float = 0.3        # side of the central square, as a fraction of the frame
    examples: int = 4        # measured frames shown in the figure
    seed: int = 1            # seed of the held-out clip (the shipped PVMs trained on seed 2)

    @classmethod
    def quick(cls, seed: int = 1) -> "FillInConfig":
        return cls(warmup=10, frames=30, examples=3, seed=seed)


@dataclass
class FillInScore:
    spot: str                 # "blind spot", "dream spot" or "none"
    context: str
    inside: float             # mean |prediction − true next frame| inside the square
    outside: float            # the same outside it


@dataclass
class FillInResult:
    config: FillInConfig
    model_steps: int
    context_on: bool
    side: int                 # of the square, in pixels
    scores: list[FillInScore]
    gray_inside: float        # |gray − true next frame| inside: what the blind spot shows
    previous_inside: float    # |frame − next frame| inside: repeating the uncovered frame

    def markdown(self) -> str:
        lines = ["| spot | context | error inside the spot ↓ | error outside |", "|---|---|---:|---:|"]
        for s in self.scores:
            lines.append(f"| {s.spot} | {s.context} | {s.inside:.4f} | {s.outside:.4f} |")
        c = self.config
        lines += ["", f"Mean |predicted next frame − true next frame| over {c.frames} held-out frames (clip seed "
                      f"{c.seed}) after {c.warmup} frames of warm-up, learning off, model at step "
                      f"{self.model_steps}; the spot is the central {self.side}×{self.side} pixels. Inside it, "
                      f"gray scores {self.gray_inside:.4f} and repeating the uncovered frame "
                      f"{self.previous_inside:.4f}."
                      + _schedule_note(self.context_on, self.model_steps)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "model_steps": self.model_steps, "context_on": self.context_on,
                "side": self.side, "scores": [asdict(s) for s in self.scores], "gray_inside": self.gray_inside,
                "previous_inside": self.previous_inside}


def central_square(size: int, fraction: float, device: torch.device) -> tuple[Tensor, int]:
    """A (size, size) mask of 1 on the central square of side ≈ fraction·size, and that side."""
    side = max(1, round(fraction * size))
    lo = (size - side) // 2
    mask = torch.zeros(size, size, device=device)
    mask[lo:lo + side, lo:lo + side] = 1
    return mask, side


@dataclass
class _Pass:
    inside: float
    outside: float
    inputs: list[Tensor]        # at the example steps: what the model saw, and its prediction of the next frame
    predictions: list[Tensor]


def _fill_in_pass(model: PVM, frames: Tensor, mask: Tensor, spot: str | None, warmup: int, shown: set[int],
                  bar: tqdm) -> _Pass:
    """One run over ``frames`` with the spot covered (``spot`` None: uncovered); errors from ``warmup`` on."""
    inside = outside = torch.zeros((), device=model.device)
    weight_in, weight_out = mask / mask.sum(), (1 - mask) / (1 - mask).sum()
    previous = torch.full_like(frames[0], GRAY)               # the model's prediction of the coming frame
    inputs, predictions = [], []
    for t in range(len(frames) - 1):
        x = frames[t]
        if spot == "blind spot":
            x = torch.lerp(x, torch.full_like(x, GRAY), mask)
        elif spot == "dream spot":
            x = torch.lerp(x, previous, mask)
        previous = model.step(x).predicted_frame.permute(2, 0, 1)
        if t >= warmup:
            error = (previous - frames[t + 1]).abs().mean(0)
            inside = inside + (error * weight_in).sum()
            outside = outside + (error * weight_out).sum()
        if t in shown:
            inputs.append(x.permute(1, 2, 0))
            predictions.append(previous.permute(1, 2, 0))
        bar.update()
    measured = len(frames) - 1 - warmup
    return _Pass((inside / measured).item(), (outside / measured).item(), inputs, predictions)


def run_fill_in(cfg: FillInConfig, out: Path, progress: bool = True) -> FillInResult:
    model = load_pvm(cfg.model, cfg.device)
    trained, context_on = model.steps, context_switched_on(model)
    size = model.spec.frame_size
    frames = held_out_frames(range(cfg.warmup + cfg.frames + 1), size, cfg.seed, model.device, progress)
    mask, side = central_square(size, cfg.spot, model.device)
    shown = {int(t) for t in np.linspace(cfg.warmup, cfg.warmup + cfg.frames - 1, cfg.examples)}
    start = model.state_dict()
    runs = [(spot, context) for spot in SPOTS for context in CONTEXTS] + [(None, INTACT)]
    scores, examples = [], {}
    with tqdm(total=len(runs) * (len(frames) - 1), desc="pvm-fill-in", disable=not progress) as bar:
        for spot, context in runs:
            model.load_state_dict(start)
            context.apply(model)
            run = _fill_in_pass(model, frames, mask, spot, cfg.warmup, shown, bar)
            scores.append(FillInScore(spot or "none", context.name, run.inside, run.outside))
            if spot == SPOTS[0]:
                examples[context.name] = run
    truth = frames[cfg.warmup + 1:]
    seen = frames[cfg.warmup:-1]
    result = FillInResult(
        cfg, trained, context_on, side, scores,
        gray_inside=((truth - GRAY).abs().mean(1) * mask).sum().item() / (mask.sum().item() * len(truth)),
        previous_inside=((truth - seen).abs().mean(1) * mask).sum().item() / (mask.sum().item() * len(truth)))
    truths = [frames[t + 1].permute(1, 2, 0) for t in sorted(shown)]
    fill_in_figure(result, examples, truths, sorted(shown), out / "pvm_fill_in.png")
    return result


def fill_in_figure(result: FillInResult, examples: dict[str, _Pass], truths: list[Tensor], steps: list[int],
                   path: Path) -> None:
    """Top: the error inside the spot per spot and context. Below, for the blind spot: the input with
    the spot, every context's prediction of the next frame, and the true next frame."""
    plt = pyplot()
    contexts = list(examples)
    rows = [("input (blind spot)", next(iter(examples.values())).inputs)]
    rows += [(f"prediction,\n{name}", run.predictions) for name, run in examples.items()]
    rows.append(("true next frame", truths))
    columns = len(steps)
    fig = plt.figure(figsize=(max(7.5, 1.6 * columns + 1.5), 3.4 + 1.55 * len(rows)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.4, 1.55 * len(rows)])
    ax = top.subplots()
    width = 0.8 / len(contexts)
    x = np.arange(len(SPOTS))
    for i, name in enumerate(contexts):
        values = [next(s.inside for s in result.scores if s.spot == spot and s.context == name) for spot in SPOTS]
        bars = ax.bar(x + (i - (len(contexts) - 1) / 2) * width, values, width, color=f"C{i}", label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    uncovered = next(s.inside for s in result.scores if s.spot == "none")
    ax.axhline(uncovered, color="k", lw=1, label="no spot, all context")
    ax.axhline(result.gray_inside, color="gray", ls="--", label="gray")
    ax.axhline(result.previous_inside, color="gray", ls=":", label="repeat the uncovered frame")
    ax.set(xticks=x, xticklabels=SPOTS, ylabel="mean |prediction − true next frame|",
           title=f"inside the central {result.side}×{result.side} px")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    axes = bottom.subplots(len(rows), columns, squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.08})
    lo = (truths[0].shape[0] - result.side) // 2 - 0.5
    for r, (label, images) in enumerate(rows):
        for c in range(columns):
            a = axes[r, c]
            a.imshow(picture(images[c]), interpolation="nearest")
            a.add_patch(plt.Rectangle((lo, lo), result.side, result.side, fill=False, ec="red", lw=0.8))
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(f"frame {steps[c]}", fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
