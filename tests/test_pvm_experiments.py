"""The PVM experiments on a tiny PVM trained briefly on the sample clip: held-out frames, the
measures, and each command's quick run end to end through a real subprocess."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from app.experiments.pvm_dreams import correlations
from app.experiments.pvm_heldout import held_out_frames, training_frames
from app.experiments.pvm_lesions import central_square
from app.models.checkpoint import save
from app.models.pvm.model import PVM
from app.models.pvm.spec import PVMSpec
from app.sources import open_source
from app.sources.fit import fit_square
from app.sources.sample_clip import PVM_TRAINING_CLIP, ClipRenderer, ClipSettings
from conftest import run_cli

TINY = dict(layer_shapes=[4, 2, 1], input_block_size=4, hidden_block_size=3, initial_learning_rate=0.1,
            final_learning_rate=0.1, delay_each_layer_learning=0, enable_lateral_at=0, enable_feedback_at=0)


@pytest.fixture(scope="module")
def tiny_pvm(tmp_path_factory):
    """A 16×16-pixel PVM after 400 steps on the sample clip (seed 0), as `hypnagogia train pvm` would."""
    model = PVM(PVMSpec(**TINY), seed=0)
    source = open_source("sample", model.spec.frame_size)
    for _ in range(400):
        frame = torch.from_numpy(source.read()).permute(2, 0, 1).float() / 255
        model.step(frame)
    source.close()
    return save(model, tmp_path_factory.mktemp("pvm") / "tiny.safetensors", {"description": "tiny, for tests"})


def experiment(name: str, model, out) -> dict:
    result = run_cli("experiment", name, "--quick", "--quiet", "--model", str(model), "--device", "cpu",
                     "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / f"{name.replace('-', '_')}.json").read_text())
    assert data["quick"] is True and data["model_steps"] == 400
    assert "| " in (out / f"{name.replace('-', '_')}.md").read_text()
    with Image.open(out / f"{name.replace('-', '_')}.png") as image:
        assert image.width > 500 and image.height > 300
    return data


def test_held_out_frames_come_from_another_clip_than_the_training_one():
    size = 16
    training = training_frames([0, 90], size, "cpu", progress=False)
    held_out = held_out_frames([0, 90], size, 1, "cpu", progress=False)
    # the clip of `python -m app.sources.sample_clip --size 80 --seconds 180 --seed 2`, fitted as a source fits it
    frame = fit_square(ClipRenderer(80, 5400, 30, seed=2).frame(90), size)
    assert torch.equal(training[1], torch.from_numpy(frame).permute(2, 0, 1).float() / 255)
    assert held_out.shape == (2, 3, size, size) and 0 <= held_out.min() and held_out.max() <= 1
    assert (held_out - training).abs().mean() > 0.1


def mean_sprite_step(renderer: ClipRenderer, frames: int) -> float:
    """How far the sprites' middles move per frame, on average over the clip (fractions of the frame)."""
    centres = np.stack([renderer.sprite_centres(i) for i in range(frames + 1)])
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=2).mean())


def test_the_held_out_clip_moves_as_fast_as_the_training_clip():
    frames = PVM_TRAINING_CLIP.frame_count
    training = mean_sprite_step(PVM_TRAINING_CLIP.renderer(), frames)
    held_out = mean_sprite_step(PVM_TRAINING_CLIP.renderer(seed=1), frames)
    assert abs(held_out / training - 1) < 0.2
    # the paths repeat once per clip: as long as the bundled clip, the same sprites move 7.5 times as fast
    short = ClipSettings(size=80, seconds=24.0, fps=30)
    assert mean_sprite_step(short.renderer(seed=1), short.frame_count) > 5 * training


def test_correlations_are_pearson_r_between_every_pair():
    a = torch.rand(5, 4, 4, 3, generator=torch.Generator().manual_seed(0))
    r = correlations(a, torch.cat([a, 1 - a, 2 * a + 1, torch.full((1, 4, 4, 3), 0.5)]))
    assert r.shape == (5, 16)
    torch.testing.assert_close(r[:, :5].diagonal(), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(r[:, 5:10].diagonal(), -torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(r[:, 10:15], r[:, :5])
    assert (r[:, 15] == 0).all() and (r.abs() <= 1 + 1e-9).all()


def test_the_spot_is_a_central_square():
    mask, side = central_square(60, 0.3, torch.device("cpu"))
    assert side == 18 and mask.sum() == 18 * 18
    assert mask[21:39, 21:39].all() and mask[20].sum() == 0 and mask[:, 39].sum() == 0


def test_pvm_lesions_quick(tiny_pvm, tmp_path):
    data = experiment("pvm-lesions", tiny_pvm, tmp_path)
    scores = {s["context"]: s for s in data["scores"]}
    assert list(scores) == ["all context", "no feedback", "no lateral", "neither"] and data["context_on"]
    for s in scores.values():
        assert 0 < s["frame_error"] < 0.5 and len(s["layer_errors"]) == 2
        assert all(math.isfinite(e) and e > 0 for e in s["layer_errors"])
    assert len({s["frame_error"] for s in scores.values()}) == 4      # every lesion changes the predictions
    baselines = data["baselines"]
    assert 0 < baselines["copy"] < baselines["block_mean"] < 0.5 and 0 < baselines["least_squares"] < 0.5


def test_pvm_fill_in_quick(tiny_pvm, tmp_path):
    data = experiment("pvm-fill-in", tiny_pvm, tmp_path)
    scores = {(s["spot"], s["context"]): s for s in data["scores"]}
    assert len(scores) == 9 and data["side"] == 5
    assert all(0 < s["inside"] < 1 and 0 < s["outside"] < 1 for s in scores.values())
    seeing = scores["none", "all context"]["inside"]
    assert seeing < scores["blind spot", "all context"]["inside"]     # covering the spot costs
    assert seeing < data["gray_inside"]


def test_pvm_static_dream_quick(tiny_pvm, tmp_path):
    data = experiment("pvm-static-dream", tiny_pvm, tmp_path)
    config = data["config"]
    assert [d["start"] for d in data["dreams"]] == config["starts"]
    for d in data["dreams"]:
        assert len(d["hold_changes"]) == config["hold"] - 1 and len(d["dream_changes"]) == config["dream"]
        assert all(math.isfinite(c) and c >= 0 for c in d["hold_changes"] + d["dream_changes"])
        assert d["verdict"].startswith(("fixed point since step", "cycle of period", "still wandering"))
        assert 0 <= d["end_distance"] < 1


def test_pvm_replay_quick(tiny_pvm, tmp_path):
    data = experiment("pvm-replay", tiny_pvm, tmp_path)
    n, start = data["config"]["frames"], data["config"]["start"]
    r = np.array(data["correlation"])
    assert r.shape == (n, n - start) and np.isfinite(r).all() and np.abs(r).max() <= 1 + 1e-9
    assert data["diagonal"] == pytest.approx([r[start + j, j] for j in range(n - start)])
    assert data["diagonal"][0] > 0.5              # the dream's first frame follows from the recorded state
    assert data["frozen"][0] == pytest.approx(1.0)
    assert all(0 <= b < n for b in data["best_match"]) and 0 <= data["replayed"] <= 1


def test_a_model_that_is_not_a_pvm_is_a_one_line_error(random_checkpoint, tmp_path):
    result = run_cli("experiment", "pvm-lesions", "--quick", "--model", str(random_checkpoint), "--out", str(tmp_path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "not a PVM" in lines[0] and "Traceback" not in result.stderr
