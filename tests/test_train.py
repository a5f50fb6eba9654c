import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from app.commands.main import main
from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
from app.models.checkpoint import LoadedModel, architecture_of, load
from app.loop import mirror as loop
from app.train import data, losses
from app.train.dreambuffer import DreamBuffer
from app.train.patches import patch_distance

TINY = ["--widths", "4,8", "--size", "32", "--batch", "2", "--dream-pool", "4", "--check-seeds", "0",
        "--device", "cpu"]


class StillSource:
    name, message = "still", ""

    def __init__(self, frame):
        self.frame = frame

    def read(self):
        return self.frame

    def close(self):
        pass


# ---- the torch mirror of the loop ---------------------------------------------------------------
def test_rule_defaults_come_from_the_shader():
    rule = loop.Rule.default(3)
    assert rule.gain_up == rule.gain_down == (0.5,) * 3
    assert rule.gain_self == rule.persistence == rule.noise == (0.0,) * 3
    assert rule.squash == "clamp"


@pytest.mark.parametrize("dream", [1.0, 0.5])
def test_mirror_matches_the_engine(dream):
    from app.loop.engine import Engine
    from app.gl.context import headless_context
    from app.gl.mixer import RuleSet
    from app.params import make_registry

    torch.manual_seed(3)
    model = ConvAutoencoder(AutoencoderConfig((4, 8, 8))).eval().requires_grad_(False)
    size = 32
    frame = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    ctx = headless_context()
    registry = make_registry()
    rules = RuleSet(ctx, registry)
    engine = Engine(ctx, registry, LoadedModel("m", Path("m"), {"architecture": architecture_of(model)}, model),
                    StillSource(frame), size, "cpu",
                    rules=rules, seed=5)
    registry.set("dream", dream)
    try:
        prediction = engine.last_prediction.permute(2, 0, 1)[None].clone()
        states = [s.clone() for s in engine.states]
        source = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
        rule = loop.Rule.default(model.depth)
        for _ in range(6):
            engine.step()
            with torch.no_grad():
                prediction, states = loop.step(model, rule, prediction, states, source=source, dream=dream)
            assert torch.allclose(engine.last_prediction, prediction[0].permute(1, 2, 0), atol=1e-4)
            for ours, theirs in zip(states, engine.states):
                assert torch.allclose(ours, theirs.contiguous(), atol=1e-4)
        assert states[0].abs().max() > 0.01  # the comparison was not between two dead loops
    finally:
        engine.release()
        ctx.release()


def test_noise_start_is_the_engines_reset():
    model = ConvAutoencoder(AutoencoderConfig((4, 8)))
    prediction, states = loop.noise_start(model, 3, 32, torch.Generator().manual_seed(0))
    assert prediction.shape == (3, 3, 32, 32) and 0 <= prediction.min() and prediction.max() <= 1
    assert [s.shape for s in states] == [(3, 4, 16, 16), (3, 8, 8, 8)]
    assert all(-0.5 <= s.min() and s.max() <= 0.5 and s.std() > 0.2 for s in states)


# ---- data -------------------------------------------------------------------------------------
def test_crops_are_varied_images_in_range():
    crops = data.Crops(data.bundled(), 32, seed=1)
    a, b = crops.batch(6), crops.batch(6)
    assert a.shape == (6, 3, 32, 32) and a.dtype == torch.float32
    assert 0 <= a.min() and a.max() <= 1
    assert not torch.allclose(a, b)
    assert a.flatten(1).std(dim=1).max() > 0.05


def test_training_never_sees_the_validation_photos():
    assert "chelsea" not in data.bundled().description and "flower" not in data.bundled().description
    images = data.validation_images()
    assert images.shape == (10, 3, 256, 256)


def test_folder_of_images(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 50, 3), 60 * i, np.uint8))
    frames = data.from_path(str(tmp_path), batch=8)
    assert len(frames.frames) == 3 and frames.frames[0].shape == (40, 50, 3)


def write_video(path: Path, count: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 48))
    for i in range(count):
        writer.write(np.full((48, 48, 3), 10 * i, np.uint8))
    writer.release()
    return path


def test_video_frames(tmp_path):
    frames = data.from_path(str(write_video(tmp_path / "clip.avi", 12)), batch=4)
    assert len(frames.frames) == 12


def garbage_image(folder: Path) -> Path:
    (folder / "bad.png").write_bytes(b"not a png")
    return folder


def text_as_video(folder: Path) -> Path:
    (folder / "notes.mp4").write_text("hello")
    return folder / "notes.mp4"


@pytest.mark.parametrize("make, words", [
    (lambda folder: folder, "holds no images"),
    (garbage_image, "cannot read image"),
    (lambda folder: write_video(folder / "short.avi", 3), "fewer than one batch"),
    (text_as_video, "not a video"),
    (lambda folder: folder / "missing", "no such file"),
])
def test_bad_data_is_one_line_before_training(tmp_path, capsys, make, words):
    folder = tmp_path / "data"
    folder.mkdir()
    runs = tmp_path / "runs"
    code = main(["train", "ae", "--data", str(make(folder)), "--batch", "8", "--runs-dir", str(runs),
                 "--models-dir", str(tmp_path / "models"), *TINY[:4]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and words in err, err
    assert not runs.exists()


def test_webcam_without_a_camera_is_one_line(tmp_path, capsys):
    code = main(["train", "ae", "--webcam", "1", "--runs-dir", str(tmp_path / "runs"), *TINY[:4]])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "webcam" in err


@pytest.mark.parametrize("args, words", [
    (["--widths", "16,x"], "--widths"),
    (["--widths", "8,8,8,8,8,8", "--size", "32"], "multiple of 64"),
    (["--name", "../escape"], "--name"),
    (["--resume", "nowhere.pt"], "no such file"),
])
def test_bad_options_are_one_line(tmp_path, capsys, args, words):
    code = main(["train", "ae", "--runs-dir", str(tmp_path / "runs"), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err, err


# ---- losses -----------------------------------------------------------------------------------
def test_patch_distance_ranks_photos_gray_and_noise():
    crops = data.Crops(data.bundled(), 32, seed=2)
    photos, others = crops.batch(16), crops.batch(16)
    for per_image in (False, True):
        same = patch_distance(photos, photos, per_image)
        natural = patch_distance(others, photos, per_image)
        gray = patch_distance(torch.full_like(photos, 0.5), photos, per_image)
        noise = patch_distance(torch.rand_like(photos), photos, per_image)
        assert same <= natural < gray < noise, (per_image, same, natural, gray, noise)


def test_dream_pool_ages_and_restarts():
    model = ConvAutoencoder(AutoencoderConfig((4, 8)))
    pool = DreamBuffer(model, capacity=6, size=16, restart=0.0, device="cpu")
    index, prediction, states = pool.take(4)
    pool.put(index, prediction + 1, states, steps=3)
    assert sorted(pool.age.tolist()) == [0, 0, 3, 3, 3, 3]
    assert torch.allclose(pool.prediction[index], prediction + 1)
    pool.restart = 1.0
    index, prediction, _ = pool.take(6)
    assert pool.age.tolist() == [0] * 6 and prediction.max() <= 1


def test_losses_train_a_model_through_its_loop():
    torch.manual_seed(0)
    model = ConvAutoencoder(AutoencoderConfig((8, 16)))
    rule = loop.Rule.default(model.depth)
    pool = DreamBuffer(model, capacity=4, size=32, restart=0.1, device="cpu")
    crops = data.Crops(data.bundled(), 32, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    fixed = crops.batch(4)
    history = []
    for _ in range(25):
        terms, codes = losses.reconstruction(model, fixed)
        terms.update(losses.recurrent(model, rule, fixed, codes, passes=2, noise=0.1))
        terms.update(losses.dream(model, rule, pool, fixed, count=2, steps=2))
        total = terms["image"] + terms["layers"] + terms["recurrent"] + 0.1 * terms["dream"]
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append({k: float(v.detach()) for k, v in terms.items()})
    assert all(np.isfinite(list(h.values())).all() for h in history)
    for key in ("image", "layers", "recurrent"):
        assert history[-1][key] < 0.7 * history[0][key], (key, history[0][key], history[-1][key])
    assert pool.age.max() > 0


# ---- the command ------------------------------------------------------------------------------
def test_train_exports_a_model_the_engine_runs_and_resumes(tmp_path, capsys):
    from app.loop.engine import Engine
    from app.gl.context import headless_context
    from app.gl.mixer import RuleSet
    from app.params import make_registry

    models, runs = tmp_path / "models", tmp_path / "runs"
    where = ["--models-dir", str(models), "--runs-dir", str(runs), "--name", "mini"]
    assert main(["train", "ae", "--steps", "3", *TINY, *where]) == 0
    card = json.loads((models / "mini.json").read_text())
    assert card["training"]["steps"] == 3 and card["architecture"]["config"]["widths"] == [4, 8]
    assert card["command"].startswith("hypnagogia train ae --name mini --widths 4,8")
    assert np.isfinite(card["validation"]["psnr_db"]) and set(card["losses"]) >= {"image", "layers", "dream"}
    assert sorted(p.name.split("-", 2)[-1] for p in (runs / "mini").glob("step-*.png")) == \
        ["dreams.png", "reconstructions.png"]

    loaded = load(str(models / "mini.safetensors"))
    ctx = headless_context()
    registry = make_registry()
    engine = Engine(ctx, registry, loaded, StillSource(np.zeros((32, 32, 3), np.uint8)), 32, "cpu",
                    rules=RuleSet(ctx, registry))
    try:
        for _ in range(3):
            engine.step()
        assert torch.isfinite(engine.last_prediction).all() and engine.message == ""
    finally:
        engine.release()
        ctx.release()

    assert main(["train", "ae", "--steps", "5", "--resume", str(runs / "mini" / "state.pt"), *TINY[2:],
                 *where]) == 0
    assert json.loads((models / "mini.json").read_text())["training"]["steps"] == 5
    steps = [json.loads(line)["step"] for line in (runs / "mini" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)
    capsys.readouterr()
    code = main(["train", "ae", "--steps", "1", "--resume", str(models / "mini.safetensors"), "--widths", "4,16",
                 *TINY[2:], *where])
    assert code == 2 and "differs from the checkpoint" in capsys.readouterr().err
