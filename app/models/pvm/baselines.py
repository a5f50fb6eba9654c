"""What simple predictors of the next frame score beside a PVM: the yardsticks of its held-out error.

* ``copy`` — the next frame is this one;
* ``block_mean`` — every pixel of the next frame is the mean, per colour, of its bottom-layer unit's
  input block (``input_block_size``² pixels) in this one;
* ``least_squares`` — per bottom-layer unit, the best linear map, fit on training frames, from the
  unit's own signal features (its block and the derivative, integral and t−2 block that its spec
  gives it, as the unit computes them, and a bias) to its next block, clipped to [0, 1]. The error
  feature, which needs a model's prediction, and context are left out.

Each is the mean |frame − prediction| over the frames from ``warmup`` on, the measure of a PVM's
``layer_errors[0]``. ``held_out_report`` sets a model's error beside them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from app.models.pvm.model import PVM
from app.models.pvm.spec import PVMSpec

CHUNK = 256                 # frames whose features are held at once while fitting
RIDGE = 1e-3                # of each feature's variance, on the diagonal: it generalises better than none


@dataclass(frozen=True)
class Baselines:
    copy: float
    block_mean: float
    least_squares: float

    def to_dict(self) -> dict:
        return asdict(self)


def baseline_errors(spec: PVMSpec, train: Tensor, held_out: Tensor, warmup: int) -> Baselines:
    """The three baselines on ``held_out`` (T, 3, S, S) frames in [0, 1], least squares fit on
    ``train`` (frames of the same size); the first ``warmup`` frames of each only fill the features."""
    for name, frames in (("train", train), ("held_out", held_out)):
        if frames.ndim != 4 or tuple(frames.shape[1:]) != (3, spec.frame_size, spec.frame_size):
            raise ValueError(f"{name} must be (T, 3, {spec.frame_size}, {spec.frame_size}) frames, got "
                             f"{tuple(frames.shape)}")
        if len(frames) <= warmup + 1:
            raise ValueError(f"{name} needs more than warmup + 1 = {warmup + 1} frames, got {len(frames)}")
    blocks = frame_blocks(held_out.float(), spec)
    seen, truth = blocks[warmup - 1:-1] if warmup else blocks[:-1], blocks[max(warmup, 1):]
    copy = (truth - seen).abs().mean().item()
    s = spec.input_block_size
    means = seen.view(*seen.shape[:2], s * s, 3).mean(2, keepdim=True)
    block_mean = (truth.view(*truth.shape[:2], s * s, 3) - means).abs().mean().item()
    weights = _fit(spec, frame_blocks(train.float(), spec), warmup)
    total, count = torch.zeros((), dtype=torch.float64, device=blocks.device), 0
    for t, x in _feature_chunks(spec, blocks):
        keep = (t >= max(warmup, 1) - 1) & (t < len(blocks) - 1)
        if keep.any():
            predicted = torch.bmm(x[keep].transpose(0, 1), weights).transpose(0, 1).clamp_(0, 1)
            total += (blocks[t[keep] + 1] - predicted).abs().sum(dtype=torch.float64)
            count += predicted.numel()
    return Baselines(copy, block_mean, (total / count).item())


def frame_blocks(frames: Tensor, spec: PVMSpec) -> Tensor:
    """(T, 3, S, S) → (T, units, block): every bottom-layer unit's block, laid out as the unit reads it."""
    b, s = spec.layer_shapes[0], spec.input_block_size
    return frames.reshape(-1, 3, b, s, b, s).permute(0, 2, 4, 3, 5, 1).reshape(len(frames), b * b, s * s * 3)


def _feature_chunks(spec: PVMSpec, blocks: Tensor):
    """(frame indices, (chunk, units, features)): each frame's features for predicting the next, in
    chunks of CHUNK frames, computed as a unit computes its own from its signal."""
    past = torch.zeros_like(blocks[0])
    integral = torch.zeros_like(blocks[0])
    ones = torch.ones(*blocks.shape[1:2], 1, device=blocks.device)
    for start in range(0, len(blocks), CHUNK):
        rows = []
        for x in blocks[start:start + CHUNK]:
            features = [x]
            if spec.use_derivative:
                features.append(0.5 * (x - past) + 0.5)
            if spec.use_integral:
                integral = integral.lerp(x, 1 - spec.tau)
                features.append(integral)
            if spec.use_t_minus_2_block:
                features.append(past)
            features.append(ones)
            rows.append(torch.cat(features, 1))
            past = x
        yield torch.arange(start, start + len(rows), device=blocks.device), torch.stack(rows)


def _fit(spec: PVMSpec, blocks: Tensor, warmup: int) -> Tensor:
    """(units, features, block): each unit's least-squares map from its features to its next block."""
    gram = cross = None
    for t, x in _feature_chunks(spec, blocks):
        keep = (t >= warmup) & (t < len(blocks) - 1)
        if not keep.any():
            continue
        x, y = x[keep].transpose(0, 1).double(), blocks[t[keep] + 1].transpose(0, 1).double()
        g, c = torch.bmm(x.transpose(1, 2), x), torch.bmm(x.transpose(1, 2), y)
        gram, cross = (g, c) if gram is None else (gram + g, cross + c)
    # ridge on every feature but the bias, in proportion to its own variance over the fit
    count, mean = gram[:, -1, -1:], gram[:, -1, :]
    variance = gram.diagonal(dim1=1, dim2=2) - mean.square() / count
    variance[:, -1] = 0
    return torch.linalg.solve(gram + torch.diag_embed(RIDGE * variance), cross).float()


@torch.no_grad()
def held_out_report(model: PVM, train: Tensor, held_out: Tensor, warmup: int) -> dict:
    """The model's mean frame error on ``held_out`` (a one-stream copy of its state, learning off, from
    ``warmup`` on) beside ``baseline_errors``, as the card writes it."""
    copy = PVM(model.spec, model.device, cuda_graphs=model.cuda_graphs)
    copy.load_state_dict(model.state_dict())
    copy.learning = False
    total = torch.zeros((), device=model.device)
    for t, frame in enumerate(held_out.to(model.device)):
        error = copy.step(frame.float()).layer_errors[0]
        if t >= warmup:
            total += error
    error = (total / (len(held_out) - warmup)).item()
    baselines = baseline_errors(model.spec, train, held_out, warmup)
    return {"frames": len(held_out) - warmup, "warmup": warmup, "model": round(error, 5),
            **{name: round(value, 5) for name, value in baselines.to_dict().items()},
            "beats_block_mean": error < baselines.block_mean}
