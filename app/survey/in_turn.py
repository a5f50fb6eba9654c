"""Basin survey of a model that dreams one start at a time (a PVM), and the same survey after the
model has slept. The model takes part through its kind's ``InTurnDreamer``.

Every start runs from the same restored state (weights and all activity). A start frame is shown
for ``hold`` steps with learning off, so that the model's motion memory fades as in a dream from a
static frame; then the model dreams ``steps`` steps. Its predicted frames go through the survey's
detector and clustering, so the result is a ``SurveyResult`` that the survey's report writes.

Sleep: ``dreams`` dreams from other starts, in which the model learns with a negative rate while the
dream has settled (``Sleep``: the predicted frame's per-step change under a threshold for some
steps) and is frozen again once it moves. Sleep dreams are full dreams (the frame is the model's
own prediction; the layers above read the states below): in a deep dream every unit reads its own
prediction, its error is zero and learning changes nothing.

Under torchrun every process dreams its share of the starts from the same state and rank 0 gathers
them; sleep runs on rank 0 alone, which sends the slept weights to the others before the second
survey.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm import tqdm

from app.analysis.attractors import WANDERING, AttractorDetector, Verdict, signature
from app.models import sleep as sleep_defaults
from app.models.base import InTurnDreamer
from app.models.sleep import Sleep
from app.survey.survey import (Start, SurveyConfig, SurveyResult, cluster, end_signature, gather_ends, make_starts,
                               pooled)
from app.train.distributed import ALONE, Team


@dataclass
class SleepConfig:
    dreams: int = 0                 # 0: no sleep, one survey
    threshold: float = sleep_defaults.THRESHOLD
    patience: int = sleep_defaults.PATIENCE
    rate: float = sleep_defaults.RATE


@dataclass
class InTurnConfig:
    survey: SurveyConfig            # its size must be the model's frame size
    hold: int = 100
    dream: str = "deep"
    sleep: SleepConfig = field(default_factory=SleepConfig)


@dataclass
class SleepRecord:
    labels: list[str]               # the start of each sleep dream
    changes: np.ndarray             # (dreams, steps): RMS per-step change of the predicted frame
    asleep: np.ndarray              # (dreams, steps): learning with a negative rate at that step
    episodes: list[int]             # per dream: times it fell asleep
    weight_change: dict[str, float] # per unit group: ‖W_after − W_before‖ / ‖W_before‖, both weight layers
    seconds: float


@dataclass
class BeforeAfter:
    before: SurveyResult
    sleep: SleepRecord
    after: SurveyResult
    seconds: dict[str, float]       # before, sleep, after


def start_images(starts: list[Start], size: int, seed: int) -> np.ndarray:
    """(N, S, S, 3) float32 frames; a noise start (no image) becomes uniform noise."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0, 1, (size, size, 3)) if s.image is None else s.image
                     for s in starts]).astype(np.float32)


def _rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean().sqrt())


def _as_frame(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).contiguous()


def survey_in_turn(dreamer: InTurnDreamer, config: InTurnConfig, desc: str = "surveying",
                   progress: bool = True, team: Team = ALONE) -> SurveyResult | None:
    """Every start from the model's current state, which is restored after; of a team, each process
    dreams its share and the leader gets the result (the others None)."""
    survey = config.survey
    if survey.size != dreamer.frame_size:
        raise ValueError(f"survey size {survey.size} differs from the model's frame size {dreamer.frame_size}")
    starts = make_starts(survey)
    images = start_images(starts, survey.size, survey.seed)
    snapshot = dreamer.snapshot()
    n = len(starts)
    verdicts: list[Verdict] = [Verdict(WANDERING)] * n
    end_frames = np.zeros_like(images)
    changes = np.zeros((n, survey.steps), np.float32)
    end_signatures: list[np.ndarray] = [None] * n
    mine = list(team.part(n))
    bar = tqdm(total=len(mine) * (config.hold + survey.steps), unit="step", desc=desc,
               disable=not (progress and team.leader))
    for i in mine:
        image = images[i]
        dreamer.restore(snapshot)
        frame = _as_frame(image)
        previous = dreamer.hold(frame, config.hold)
        bar.update(config.hold)
        detector = AttractorDetector(survey.detector)
        recent: collections.deque[np.ndarray] = collections.deque(maxlen=survey.detector.max_period)
        for t in range(survey.steps):
            prediction, top = dreamer.dream_step(frame, config.dream)
            changes[i, t] = _rms(prediction, previous)
            previous = prediction
            verdicts[i] = detector.update(t, signature(prediction.numpy(), top.numpy()))
            recent.append(pooled(prediction.permute(2, 0, 1)[None])[0])
            bar.update()
        end_frames[i] = previous.numpy()
        end_signatures[i] = end_signature(verdicts[i], list(recent))
    bar.close()
    dreamer.restore(snapshot)
    if not gather_ends(team, mine, verdicts, end_signatures, end_frames, changes):
        return None
    attractors, basins = cluster(verdicts, end_signatures, survey.cluster_tolerance)
    return SurveyResult(survey, starts, verdicts, end_frames, images, changes, attractors, basins)


def sleep(dreamer: InTurnDreamer, config: InTurnConfig, progress: bool = True) -> SleepRecord:
    """``config.sleep.dreams`` full dreams from starts of their own (the survey's kinds, another seed);
    the model keeps what it unlearned."""
    started = time.perf_counter()
    rest = config.sleep
    survey = replace(config.survey, starts=rest.dreams, seed=config.survey.seed + 1)
    starts = make_starts(survey)
    weights_before = dreamer.weights()
    changes = np.zeros((rest.dreams, survey.steps), np.float32)
    asleep = np.zeros((rest.dreams, survey.steps), bool)
    episodes = []
    state = Sleep()
    bar = tqdm(total=rest.dreams * (config.hold + survey.steps), unit="step", desc="sleeping", disable=not progress)
    for d, image in enumerate(start_images(starts, survey.size, survey.seed)):
        frame = _as_frame(image)
        previous = dreamer.hold(frame, config.hold)
        bar.update(config.hold)
        state.reset()
        before = state.episodes
        for t in range(survey.steps):
            # as in the window: the change of the last step decides whether this step unlearns
            asleep[d, t] = t > 0 and state.update(float(changes[d, t - 1]), rest.threshold, rest.patience)
            dreamer.learn(-rest.rate if asleep[d, t] else None)
            prediction, _ = dreamer.dream_step(frame, "full")
            changes[d, t] = _rms(prediction, previous)
            previous = prediction
            bar.update()
        episodes.append(state.episodes - before)
    bar.close()
    dreamer.learn(None)
    weights_after = dreamer.weights()
    weight_change = {name: float((weights_after[name] - w).norm() / w.norm()) for name, w in weights_before.items()}
    return SleepRecord([s.label for s in starts], changes, asleep, episodes, weight_change,
                       time.perf_counter() - started)


def survey_before_after(dreamer: InTurnDreamer, config: InTurnConfig, progress: bool = True,
                        team: Team = ALONE) -> BeforeAfter | None:
    """The survey, sleep, and the same survey on the slept weights. The model keeps them, with its
    activity and step count as they were before sleep, so that only the weights differ between the
    surveys (a hold does not erase the slow integral features: at τ = 0.98, 13 % remain after 100 steps).
    Of a team, the leader sleeps and gets the result (the others None)."""
    seconds = {}
    started = time.perf_counter()
    before = survey_in_turn(dreamer, config, "before sleep", progress, team)
    seconds["before"] = time.perf_counter() - started
    awake = dreamer.snapshot()
    record = sleep(dreamer, config, progress) if team.leader else None
    slept = dreamer.with_weights_of(awake, dreamer.snapshot()) if team.leader else None
    dreamer.restore(team.share(slept))
    seconds["sleep"] = record.seconds if record else 0.0
    started = time.perf_counter()
    after = survey_in_turn(dreamer, config, "after sleep", progress, team)
    seconds["after"] = time.perf_counter() - started
    return BeforeAfter(before, record, after, seconds) if team.leader else None
