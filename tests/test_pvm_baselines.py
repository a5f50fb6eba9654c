"""The baselines beside a PVM's held-out error, on clips whose answers are known."""

import pytest
import torch

from app.models.pvm.baselines import baseline_errors, frame_blocks, held_out_report
from app.models.pvm.model import PVM
from app.models.pvm.spec import PVMSpec

SPEC = PVMSpec(layer_shapes=[3, 1], input_block_size=2, hidden_block_size=2, initial_learning_rate=0.05,
               final_learning_rate=0.05, delay_each_layer_learning=0, enable_lateral_at=0, enable_feedback_at=0)


def ramps(count: int, slope: float, seed: int, every: int = 20) -> torch.Tensor:
    """Every pixel changing at its own steady pace, a new pace every `every` frames and bouncing off
    0.05 and 0.95: steady change with a few kinks."""
    g = torch.Generator().manual_seed(seed)
    shape = (3, SPEC.frame_size, SPEC.frame_size)
    x = 0.2 + 0.6 * torch.rand(shape, generator=g)
    frames = []
    for t in range(count):
        if t % every == 0:
            pace = (2 * torch.rand(shape, generator=g) - 1) * slope
        pace = torch.where((x + pace - 0.5).abs() > 0.45, -pace, pace)
        x = x + pace
        frames.append(x)
    return torch.stack(frames)


def test_least_squares_extrapolates_steady_change_that_copying_misses():
    train, held_out = ramps(3000, 0.01, seed=0), ramps(300, 0.01, seed=1)
    scores = baseline_errors(SPEC, train, held_out, warmup=10)
    steps = (held_out[10:] - held_out[9:-1]).abs().mean().item()
    assert scores.copy == pytest.approx(steps, rel=1e-5) and scores.copy > 2e-3
    assert scores.least_squares < 0.5 * scores.copy
    assert scores.block_mean > scores.copy


def test_block_means_and_copies_as_defined():
    frames = torch.rand(30, 3, SPEC.frame_size, SPEC.frame_size, generator=torch.Generator().manual_seed(2))
    scores = baseline_errors(SPEC, frames, frames, warmup=5)
    assert scores.copy == pytest.approx((frames[5:] - frames[4:-1]).abs().mean().item(), rel=1e-5)
    block_means = torch.nn.functional.avg_pool2d(frames[4:-1], 2)
    block_means = block_means.repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert scores.block_mean == pytest.approx((frames[5:] - block_means).abs().mean().item(), rel=1e-5)
    # frame_blocks lays a unit's block out as the unit reads it: pixel row, column, colour
    blocks = frame_blocks(frames[:1], SPEC)
    assert torch.equal(blocks[0, 4].view(2, 2, 3), frames[0, :, 2:4, 2:4].permute(1, 2, 0))


def test_the_report_sets_the_model_beside_the_baselines_without_changing_it():
    model = PVM(SPEC, seed=0)
    clip = ramps(60, 0.004, seed=3)
    before = model.state_dict()
    report = held_out_report(model, clip, clip, warmup=10)
    assert report["frames"] == 50 and 0 < report["model"] < 1
    assert {"copy", "block_mean", "least_squares", "beats_block_mean"} <= set(report)
    assert report["beats_block_mean"] == (report["model"] < report["block_mean"])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and model.learning


def test_frames_that_do_not_fit_the_spec_are_refused():
    frames = torch.rand(20, 3, 8, 8)
    with pytest.raises(ValueError, match=r"train must be \(T, 3, 6, 6\) frames"):
        baseline_errors(SPEC, frames, frames, warmup=2)
    with pytest.raises(ValueError, match="more than warmup"):
        baseline_errors(SPEC, ramps(10, 0.01, 0), ramps(5, 0.01, 0), warmup=4)
