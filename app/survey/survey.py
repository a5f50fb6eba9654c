"""Basin survey: dream from many starts at once and map where the dreams end.

Starts mix uniform noise, smooth noise, bundled photos, frames of a clip, and the same frames
shifted or occluded. All run in full dream (dream = 1, the default mixing rule) as one batch
through the torch mirror of the loop; each end state is judged (fixed point, cycle, wandering),
and end states are clustered into distinct attractors with their basin shares.

Under torchrun the starts are shared out: every process draws each batch's noise and dreams its
rows of the batch, and rank 0 gathers the end states, clusters them and holds the result, the one a
single process finds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from app.analysis.attractors import CYCLE, FIXED_POINT, WANDERING, BatchDetector, DetectorConfig, Verdict, signature
from app.models.base import LayerStack
from app.loop.mirror import Rule, noise_start, step
from app.sources import open_source
from app.sources.photos import bundled_photos
from app.train.distributed import ALONE, Team

FRAME_STRIDE = 12   # clip frames taken this many frames apart
CLUSTER_SIDE = 16   # end frames are compared at this resolution
START_KINDS = ("uniform noise", "smooth noise", "photo", "clip frame", "shifted frame", "occluded frame")


@dataclass
class SurveyConfig:
    starts: int = 64
    steps: int = 300
    size: int = 64
    batch: int = 32
    source: str = "sample"
    seed: int = 0
    cluster_tolerance: float = 0.12   # RMS between 16×16 end frames: below it they look alike
    detector: DetectorConfig = field(default_factory=DetectorConfig)


@dataclass
class Start:
    kind: str
    label: str
    image: np.ndarray | None          # (S, S, 3) float in [0, 1]; None for noise starts


@dataclass
class Basin:
    attractor: int                    # index into SurveyResult.attractors
    members: list[int]                # start indices


@dataclass
class SurveyResult:
    config: SurveyConfig
    starts: list[Start]
    verdicts: list[Verdict]
    end_frames: np.ndarray            # (N, S, S, 3)
    start_frames: np.ndarray          # (N, S, S, 3): the first prediction of each dream
    changes: np.ndarray               # (N, steps): RMS per-step change of the prediction
    attractors: list[dict]            # kind, period, representative start, basin share
    basins: list[Basin]


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return cv2.resize(image[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA) / 255.0


def make_starts(config: SurveyConfig) -> list[Start]:
    """``config.starts`` starts, cycling through START_KINDS."""
    rng = np.random.default_rng(config.seed)
    size = config.size
    photos = itertools.cycle(sorted(bundled_photos().items()))
    frames, last = [], None
    source = open_source(config.source, size)
    for i in range(max(1, config.starts // 2) * FRAME_STRIDE):
        frame = source.read()
        last = last if frame is None else frame         # a still image returns its frame only once
        if i % FRAME_STRIDE == 0 and last is not None:
            frames.append(last)
    source.close()
    frame_cycle = itertools.cycle(frames)
    starts = []
    for i, kind in zip(range(config.starts), itertools.cycle(START_KINDS)):
        if kind == "uniform noise":
            starts.append(Start(kind, f"noise #{i}", None))
        elif kind == "smooth noise":
            coarse = rng.uniform(0, 1, (size // 8, size // 8, 3)).astype(np.float32)
            starts.append(Start(kind, f"smooth noise #{i}", cv2.resize(coarse, (size, size),
                                                                     interpolation=cv2.INTER_CUBIC).clip(0, 1)))
        elif kind == "photo":
            name, photo = next(photos)
            starts.append(Start(kind, name, _fit(photo, size)))
        else:
            frame = next(frame_cycle).astype(np.float64) / 255.0
            if kind == "shifted frame":
                frame = np.roll(frame, (size // 8, size // 8), axis=(0, 1))
            elif kind == "occluded frame":
                yy, xx = np.mgrid[:size, :size]
                frame = np.where(((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2)[..., None], 0.5, frame)
            starts.append(Start(kind, f"{kind} #{i}", frame))
    return starts


def _initial(model: LayerStack, starts: list[Start], size: int, generator: torch.Generator, rows: range):
    """The first prediction and states of ``rows`` of a batch of ``starts`` (the noise drawn for all)."""
    prediction, states = noise_start(model, len(starts), size, generator)
    prediction, states = prediction[rows.start:rows.stop], [s[rows.start:rows.stop] for s in states]
    starts = starts[rows.start:rows.stop]
    images = [i for i, s in enumerate(starts) if s.image is not None]
    if images:
        batch = torch.tensor(np.stack([starts[i].image for i in images]), dtype=torch.float32).permute(0, 3, 1, 2)
        encoded = model.encode(batch)
        prediction[images] = batch
        for layer, e in zip(states, encoded):
            layer[images] = e
    return prediction, states


def _signatures(prediction: torch.Tensor, top: torch.Tensor) -> np.ndarray:
    p = prediction.permute(0, 2, 3, 1).numpy()
    t = top.numpy()
    return np.stack([signature(p[b], t[b]) for b in range(len(p))])


def run_survey(model: LayerStack, config: SurveyConfig, progress: bool = True,
               team: Team = ALONE) -> SurveyResult | None:
    """The survey; of a team, each process dreams its share and the leader gets the result (the
    others None)."""
    starts = make_starts(config)
    rule = Rule.default(model.depth)
    generator = torch.Generator().manual_seed(config.seed)
    n, size = len(starts), config.size
    verdicts: list[Verdict] = [Verdict(WANDERING)] * n
    end_frames = np.zeros((n, size, size, 3), np.float32)
    start_frames = np.zeros_like(end_frames)
    changes = np.zeros((n, config.steps), np.float32)
    end_signatures: list[np.ndarray] = [None] * n
    bar = tqdm(total=n * config.steps, unit="step", desc="surveying", disable=not (progress and team.leader))
    model = model.eval()
    mine: list[int] = []
    with torch.inference_mode():
        for lo in range(0, n, config.batch):
            batch = list(range(lo, min(n, lo + config.batch)))
            rows = team.part(len(batch))
            prediction, states = _initial(model, [starts[i] for i in batch], size, generator, rows)
            chunk = batch[rows.start:rows.stop]
            mine += chunk
            if not chunk:
                continue
            start_frames[chunk] = prediction.permute(0, 2, 3, 1).numpy()
            detector = BatchDetector(len(chunk), config.detector)
            recent: list[np.ndarray] = []
            for t in range(config.steps):
                new_prediction, states = step(model, rule, prediction, states)
                changes[chunk, t] = (new_prediction - prediction).pow(2).mean(dim=(1, 2, 3)).sqrt().numpy()
                prediction = new_prediction
                chunk_verdicts = detector.update(t, _signatures(prediction, states[-1]))
                recent = (recent + [pooled(prediction)])[-config.detector.max_period:]
                bar.update(len(batch))
            for j, i in enumerate(chunk):
                verdicts[i] = chunk_verdicts[j]
                end_signatures[i] = end_signature(chunk_verdicts[j], [r[j] for r in recent])
            end_frames[chunk] = prediction.permute(0, 2, 3, 1).numpy()
    bar.close()
    if not gather_ends(team, mine, verdicts, end_signatures, end_frames, start_frames, changes):
        return None
    attractors, basins = cluster(verdicts, end_signatures, config.cluster_tolerance)
    return SurveyResult(config, starts, verdicts, end_frames, start_frames, changes, attractors, basins)


def gather_ends(team: Team, mine: list[int], verdicts: list, signatures: list, *arrays: np.ndarray) -> bool:
    """Every process's rows ``mine`` of the verdicts, end signatures and per-start ``arrays``, gathered
    into the leader's (in place); True on the leader."""
    if not team.joined:
        return True
    parts = team.collect([(i, verdicts[i], signatures[i], *(a[i] for a in arrays)) for i in mine])
    if parts is None:
        return False
    for i, verdict, signature_, *rows in (row for part in parts for row in part):
        verdicts[i], signatures[i] = verdict, signature_
        for a, row in zip(arrays, rows):
            a[i] = row
    return True


def pooled(prediction: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) predictions as (B, 3·16·16) vectors: what clustering compares."""
    return F.adaptive_avg_pool2d(prediction, CLUSTER_SIDE).flatten(1).numpy()


def end_signature(verdict: Verdict, recent: list[np.ndarray]) -> np.ndarray:
    """One dream's end state for clustering from its recent pooled frames, oldest first: the last
    frame, or for a cycle the mean over one period, so that its phase does not matter."""
    span = verdict.period if verdict.kind == CYCLE else 1
    return np.mean(recent[-span:], axis=0)


def cluster(verdicts: list[Verdict], signatures: list[np.ndarray], tolerance: float) -> tuple[list[dict], list[Basin]]:
    """Greedy leader clustering of the settled end states (same kind, period and an RMS distance
    under ``tolerance`` to the basin's first member, between end frames at 16×16, so that
    attractors that look alike are one). Wandering dreams form no basin."""
    attractors: list[dict] = []
    basins: list[Basin] = []
    leaders: list[np.ndarray] = []
    settled = [i for i, v in enumerate(verdicts) if v.kind in (FIXED_POINT, CYCLE)]
    for i in settled:
        v = verdicts[i]
        for a, (info, leader) in enumerate(zip(attractors, leaders)):
            if (info["kind"], info["period"]) == (v.kind, v.period) and \
                    np.sqrt(np.mean((signatures[i] - leader) ** 2)) < tolerance:
                basins[a].members.append(i)
                break
        else:
            attractors.append({"kind": v.kind, "period": v.period, "representative": i})
            leaders.append(signatures[i])
            basins.append(Basin(len(attractors) - 1, [i]))
    total = len(verdicts)
    order = sorted(range(len(basins)), key=lambda a: -len(basins[a].members))
    attractors = [attractors[a] for a in order]
    basins = [Basin(k, basins[a].members) for k, a in enumerate(order)]
    for info, basin in zip(attractors, basins):
        info["share"] = len(basin.members) / total
        info["members"] = basin.members
    return attractors, basins
