"""Basin survey of a Predictive Vision Model, and the same survey after the model has slept.

The PVM runs one frame at a time, so the starts run one after another, each from the same
restored state (weights and every unit's activity). A start frame is shown for ``hold`` steps with
learning off, so that the model's motion memory (its derivative and integral features) fades as in
a dream from a static frame; then the model dreams ``steps`` steps. Its predicted frames go through
the survey's detector and clustering, so the result is a ``SurveyResult`` that the survey's report
writes.

Sleep: ``dreams`` dreams from other starts, in which the model learns with a negative rate while the
dream has settled (``Sleep``: the predicted frame's per-step change under a threshold for some
steps) and is frozen again once it moves. Sleep dreams are full dreams (the frame is the model's
own prediction; the layers above read the states below): in the deep dream every unit reads its
own prediction, its error is zero and learning changes nothing.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm import tqdm

from app.analysis.attractors import WANDERING, AttractorDetector, Verdict, signature
from app.survey.survey import Start, SurveyConfig, SurveyResult, cluster, end_signature, make_starts, pooled
from app.models.pvm.model import PVM
from app.models.pvm.kind import PARAMS
from app.models.pvm.stack import Sleep

DREAMS = ("deep", "full")       # every layer reads its own prediction / only the frame is the prediction
# the entries of PVM.state_dict that hold weights and their momentum; the rest is activity and the step count
WEIGHT_ENTRIES = ("z1", "ring_x", "ring_d", "w2", "v2", "ring_slot")


def _window_default(name: str):
    return next(p.default for p in PARAMS if p.name == name)


@dataclass
class SleepConfig:
    dreams: int = 0                 # 0: no sleep, one survey
    threshold: float = field(default_factory=lambda: _window_default("pvm.sleep_threshold"))
    patience: int = field(default_factory=lambda: _window_default("pvm.sleep_patience"))
    rate: float = field(default_factory=lambda: _window_default("pvm.sleep_rate"))


@dataclass
class PVMSurveyConfig:
    survey: SurveyConfig            # its size must be the PVM's frame size
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


def dream_factors(dream: str, layers: int) -> list[float]:
    if dream not in DREAMS:
        raise ValueError(f"dream must be one of {DREAMS}, got {dream!r}")
    return [1.0] * layers if dream == "deep" else [1.0] + [0.0] * (layers - 1)


def start_images(starts: list[Start], size: int, seed: int) -> np.ndarray:
    """(N, S, S, 3) float32 frames; a noise start (no image) becomes uniform noise."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0, 1, (size, size, 3)) if s.image is None else s.image
                     for s in starts]).astype(np.float32)


def _hold(pvm: PVM, frame: torch.Tensor, steps: int) -> torch.Tensor:
    """Show ``frame`` for ``steps`` steps with learning off; the last predicted frame."""
    pvm.learning = False
    for _ in range(steps):
        result = pvm.step(frame)
    return result.predicted_frame


def _rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean().sqrt())


def _as_frame(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).contiguous()


def survey_pvm(pvm: PVM, config: PVMSurveyConfig, desc: str = "surveying", progress: bool = True) -> SurveyResult:
    """Every start from the model's current state, which is restored after."""
    survey = config.survey
    if survey.size != pvm.spec.frame_size:
        raise ValueError(f"survey size {survey.size} differs from the PVM's frame size {pvm.spec.frame_size}")
    starts = make_starts(survey)
    images = start_images(starts, survey.size, survey.seed)
    factors = dream_factors(config.dream, pvm.spec.n_layers)
    snapshot = pvm.state_dict()
    n = len(starts)
    verdicts: list[Verdict] = [Verdict(WANDERING)] * n
    end_frames = np.zeros_like(images)
    changes = np.zeros((n, survey.steps), np.float32)
    end_signatures: list[np.ndarray] = [None] * n
    bar = tqdm(total=n * (config.hold + survey.steps), unit="step", desc=desc, disable=not progress)
    for i, image in enumerate(images):
        pvm.load_state_dict(snapshot)
        frame = _as_frame(image)
        previous = _hold(pvm, frame, config.hold)
        bar.update(config.hold)
        detector = AttractorDetector(survey.detector)
        recent: collections.deque[np.ndarray] = collections.deque(maxlen=survey.detector.max_period)
        for t in range(survey.steps):
            result = pvm.step(frame, dream=factors)
            prediction = result.predicted_frame
            changes[i, t] = _rms(prediction, previous)
            previous = prediction
            verdicts[i] = detector.update(t, signature(prediction.numpy(), result.hidden[-1].numpy()))
            recent.append(pooled(prediction.permute(2, 0, 1)[None])[0])
            bar.update()
        end_frames[i] = previous.numpy()
        end_signatures[i] = end_signature(verdicts[i], list(recent))
    bar.close()
    pvm.load_state_dict(snapshot)
    attractors, basins = cluster(verdicts, end_signatures, survey.cluster_tolerance)
    return SurveyResult(survey, starts, verdicts, end_frames, images, changes, attractors, basins)


def _weights(pvm: PVM) -> list[torch.Tensor]:
    return [torch.cat([w1.flatten(), g.w2.flatten()]) for w1, g in zip(pvm.input_weights(), pvm.groups)]


def sleep(pvm: PVM, config: PVMSurveyConfig, progress: bool = True) -> SleepRecord:
    """``config.sleep.dreams`` full dreams from starts of their own (the survey's kinds, another seed);
    the model keeps what it unlearned."""
    started = time.perf_counter()
    rest = config.sleep
    survey = replace(config.survey, starts=rest.dreams, seed=config.survey.seed + 1)
    starts = make_starts(survey)
    factors = dream_factors("full", pvm.spec.n_layers)
    weights_before = _weights(pvm)
    changes = np.zeros((rest.dreams, survey.steps), np.float32)
    asleep = np.zeros((rest.dreams, survey.steps), bool)
    episodes = []
    state = Sleep()
    bar = tqdm(total=rest.dreams * (config.hold + survey.steps), unit="step", desc="sleeping", disable=not progress)
    for d, image in enumerate(start_images(starts, survey.size, survey.seed)):
        frame = _as_frame(image)
        previous = _hold(pvm, frame, config.hold)
        bar.update(config.hold)
        state.reset()
        before = state.episodes
        for t in range(survey.steps):
            # as in the window: the change of the last step decides whether this step unlearns
            asleep[d, t] = t > 0 and state.update(float(changes[d, t - 1]), rest.threshold, rest.patience)
            pvm.learning = bool(asleep[d, t])
            pvm.learning_rate = -rest.rate if asleep[d, t] else None
            prediction = pvm.step(frame, dream=factors).predicted_frame
            changes[d, t] = _rms(prediction, previous)
            previous = prediction
            bar.update()
        episodes.append(state.episodes - before)
    bar.close()
    pvm.learning, pvm.learning_rate = False, None
    groups = ("bottom layer", "layers above")
    weight_change = {name: float((after - w).norm() / w.norm())
                     for name, w, after in zip(groups, weights_before, _weights(pvm))}
    return SleepRecord([s.label for s in starts], changes, asleep, episodes, weight_change,
                       time.perf_counter() - started)


def _with_weights(state: dict[str, torch.Tensor], weights_from: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with the weights of ``weights_from``."""
    return {k: weights_from[k] if k.split(".")[-1] in WEIGHT_ENTRIES else v for k, v in state.items()}


def survey_before_after(pvm: PVM, config: PVMSurveyConfig, progress: bool = True) -> BeforeAfter:
    """The survey, sleep, and the same survey on the slept weights. The model keeps them, with its
    activity and step count as they were before sleep, so that only the weights differ between the
    surveys (a hold does not erase the slow integral features: at τ = 0.98, 13 % remain after 100 steps)."""
    seconds = {}
    started = time.perf_counter()
    before = survey_pvm(pvm, config, "before sleep", progress)
    seconds["before"] = time.perf_counter() - started
    awake = pvm.state_dict()
    record = sleep(pvm, config, progress)
    pvm.load_state_dict(_with_weights(awake, pvm.state_dict()))
    seconds["sleep"] = record.seconds
    started = time.perf_counter()
    after = survey_pvm(pvm, config, "after sleep", progress)
    seconds["after"] = time.perf_counter() - started
    return BeforeAfter(before, record, after, seconds)
