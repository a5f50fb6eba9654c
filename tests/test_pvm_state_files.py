"""A training run's state in files of bounded size: shards round-trip exactly, a run resumes from its
folder, index or any shard, and what is missing or mixed is one line."""

import json

import pytest
import torch
from safetensors.torch import load_file

from app.commands.main import main
from app.errors import UserError
from app.models.pvm.model import PVM
from app.models.pvm.spec import PVMSpec
from app.train import state_files
from app.train.state_files import load_run_state, read_tensors, save_run_state, write_tensors
from test_pvm import TEST_SPECS, moving_frames

LIMIT = 200_000                 # bytes: the test spec's state (1.5 MB) takes a dozen shards


def sizes(folder):
    return {p.name: p.stat().st_size for p in folder.iterdir()}


def test_tensors_round_trip_through_shards_of_at_most_the_limit(tmp_path):
    g = torch.Generator().manual_seed(0)
    tensors = {"big": torch.rand(300, 400, generator=g),                 # 480 kB: split along dim 0
               "wide": torch.rand(2, 100_000, generator=g),              # a row of 400 kB: split flat
               "half": torch.rand(50, 50, generator=g).half(), "steps": torch.tensor(12345, dtype=torch.int64),
               "empty": torch.zeros(0, 3)}
    written = write_tensors(tmp_path, "state", tensors, {"card": "{}"}, LIMIT)
    index = json.loads((tmp_path / "state.index.json").read_text())
    assert [p.name for p in written] == [*index["shards"], "state.index.json"] and len(index["shards"]) >= 5
    assert index["shards"][0] == f"state-00001-of-{len(index['shards']):05d}.safetensors"
    assert all(size <= LIMIT for size in sizes(tmp_path).values())
    assert len(index["tensors"]["big"]["parts"]) > 1 and len(index["tensors"]["wide"]["parts"]) > 1
    for path in (tmp_path / "state.index.json",):
        back, metadata = read_tensors(path)
        assert metadata == {"card": "{}"} and back.keys() == tensors.keys()
        for key, tensor in tensors.items():
            assert back[key].dtype == tensor.dtype and torch.equal(back[key], tensor), key
    # a smaller state later is one file again, and no shard of the earlier one is left behind
    write_tensors(tmp_path, "state", {"steps": tensors["steps"]}, {}, LIMIT)
    assert sorted(sizes(tmp_path)) == ["state.safetensors"]
    assert torch.equal(load_file(tmp_path / "state.safetensors")["steps"], tensors["steps"])


def small_model(streams: int = 1, steps: int = 30) -> PVM:
    spec = PVMSpec(**{**TEST_SPECS["one-step"], "enable_lateral_at": 0, "enable_feedback_at": 0})
    model = PVM(spec, seed=1, streams=streams)
    frames = moving_frames(spec.frame_size, steps + streams)
    for t in range(steps):
        model.step(frames[t] if streams == 1 else torch.stack(frames[t:t + streams]))
    return model


@pytest.mark.parametrize("streams", [1, 2])
def test_a_run_state_larger_than_the_limit_resumes_bit_for_bit_from_its_folder_index_or_any_shard(tmp_path, streams):
    model = small_model(streams)
    save_run_state(model, tmp_path, {"description": "test"}, limit=LIMIT)
    files = sizes(tmp_path)
    assert "state.safetensors" not in files and "state.index.json" in files and "state.json" in files
    assert all(size <= LIMIT for size in files.values())
    assert ("state.streams.index.json" in files or "state.streams.safetensors" in files) == (streams > 1)
    shards = sorted(tmp_path.glob("state-*-of-*.safetensors"))
    for where in (tmp_path, tmp_path / "state.index.json", shards[0], shards[-1]):
        loaded = load_run_state(str(where), "cpu")
        assert loaded.path == tmp_path / "state.index.json" and loaded.card["description"] == "test"
        state = loaded.model.state_dict()
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    extra = state_files.load_streams(loaded.path)
    if streams > 1:
        resumed = PVM(model.spec, streams=streams)
        resumed.load_state_dict(loaded.model.state_dict())
        resumed.load_streams_state(extra[1])
    else:
        assert extra is None
        resumed = loaded.model
    frames = moving_frames(model.spec.frame_size, 8, seed=3)
    resumed.learning = True
    for t in range(5):
        batch = frames[t] if streams == 1 else torch.stack(frames[t:t + streams])
        assert torch.equal(model.step(batch).stream_errors, resumed.step(batch).stream_errors)


def test_a_missing_or_foreign_shard_is_one_line(tmp_path, capsys):
    model = small_model()
    save_run_state(model, tmp_path / "a", {"description": "a"}, limit=LIMIT)
    model.step(moving_frames(model.spec.frame_size, 1)[0])
    save_run_state(model, tmp_path / "b", {"description": "b"}, limit=LIMIT)
    third = tmp_path / "a" / sorted(p.name for p in (tmp_path / "a").glob("state-*"))[2]
    (tmp_path / "b" / third.name).write_bytes(third.read_bytes())       # a shard of the other snapshot
    with pytest.raises(UserError, match=f"shard {third.name} in .* belongs to another snapshot than state.index"):
        load_run_state(str(tmp_path / "b"), "cpu")
    third.unlink()
    with pytest.raises(UserError) as e:
        load_run_state(str(tmp_path / "a" / "state.index.json"), "cpu")
    assert str(e.value).startswith(f"shard {third.name} of state.index.json is missing from {tmp_path / 'a'}")
    assert main(["train", "pvm", "--resume", str(tmp_path / "a"), "--steps", "1", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert third.name in err and "missing" in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no state.safetensors or state.index.json in"):
        load_run_state(str(tmp_path / "empty"), "cpu")


def test_train_pvm_writes_shards_and_resumes_from_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(state_files, "SHARD_LIMIT", LIMIT)
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({**TEST_SPECS["one-step"], "initial_learning_rate": 0.05}))
    common = ["--models-dir", str(tmp_path / "models"), "--runs-dir", str(tmp_path / "runs"), "--device", "cpu",
              "--source", "sample", "--snapshot-every", "50"]
    assert main(["train", "pvm", "--spec", str(spec), "--steps", "100", "--name", "whole", *common]) == 0
    assert main(["train", "pvm", "--spec", str(spec), "--steps", "50", "--name", "part", *common]) == 0
    run = tmp_path / "runs" / "part"
    assert (run / "state.index.json").is_file() and not (run / "state.safetensors").exists()
    assert max(sizes(run).values()) <= LIMIT
    assert main(["train", "pvm", "--resume", str(run), "--steps", "50", "--name", "part", *common]) == 0
    a, b = (load_file(tmp_path / "models" / f"{name}.safetensors") for name in ("whole", "part"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    card = json.loads((tmp_path / "models" / "part.json").read_text())
    assert card["steps"] == 100 and [s["steps"] for s in card["segments"]] == [[0, 50], [50, 100]]
