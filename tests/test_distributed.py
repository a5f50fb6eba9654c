"""Training and surveys on torch.distributed: real ``torchrun`` runs of two processes talking over gloo on
127.0.0.1, each against the same command in one process."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

from app.commands.main import main
from app.errors import UserError
from app.train.distributed import Team, atomic_write
from conftest import ROOT

TINY_AE = ["train", "ae", "--widths", "4,8", "--size", "32", "--batch", "4", "--dream-pool", "8", "--dream-restart",
           "0.3", "--check-seeds", "0", "--device", "cpu", "--seed", "3", "--lr", "0.1"]
APP_FRAMES = re.compile(r'File ".*/app/')          # a traceback through the app's own code


def torchrun(*args: str, processes: int = 2, timeout: float = 120, **popen) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node N -m app ARGS`` on a free port of 127.0.0.1."""
    return subprocess.run(_torchrun_command(processes, args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **popen)


def _torchrun_command(processes: int, args) -> list[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--master-addr",
            "127.0.0.1", "--master-port", str(port), "-m", "app", *args]


@contextlib.contextmanager
def one_thread():
    """One process as torchrun starts each (OMP_NUM_THREADS=1), so that both compute alike."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def alone(*args: str) -> None:
    with one_thread():
        assert main(list(args)) == 0


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("hypnagogia: error:")]


# ---- the team's arithmetic, in one process ----------------------------------------------------------
def test_a_team_splits_in_rank_order_and_draws_the_global_batch():
    assert [list(Team(r, 3).part(8)) for r in range(3)] == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert [len(Team(r, 4).part(2)) for r in range(4)] == [1, 1, 0, 0]
    for layout in (torch.contiguous_format, torch.channels_last):
        local = torch.zeros(3, 4, 5, 6).contiguous(memory_format=layout)
        torch.manual_seed(1)
        whole = torch.randn_like(torch.zeros(6, 4, 5, 6).contiguous(memory_format=layout))
        parts = []
        for rank in range(2):
            torch.manual_seed(1)
            parts.append(Team(rank, 2).randn_like(local))
        assert torch.equal(torch.cat(parts), whole)
    torch.manual_seed(2)
    alone_draw = Team().randn_like(local)
    torch.manual_seed(2)
    assert torch.equal(alone_draw, torch.randn_like(local))     # one process draws as torch does


def test_streams_that_do_not_split_two_or_more_each_are_refused_in_one_line():
    from app.train.pvm import _share
    assert _share(4, Team(0, 2), "--streams") == 2
    with pytest.raises(UserError, match=r"2 streams cannot be split over this run's 2 processes.*--streams 4"):
        _share(2, Team(0, 2), "--streams")
    with pytest.raises(UserError, match="3 streams cannot be split"):
        _share(3, Team(1, 2), "--streams")


def test_a_killed_writer_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "state.pt"
    target.write_bytes(b"old state")
    with pytest.raises(OSError):
        atomic_write(target, lambda path: (path.write_bytes(b"half"), (_ for _ in ()).throw(OSError("disk full"))))
    assert target.read_bytes() == b"old state" and sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from app.train.distributed import atomic_write\n"
        "def write(path):\n    path.write_bytes(b'new st'); print('half', flush=True); time.sleep(60)\n"
        f"atomic_write(Path({str(target)!r}), write)")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "half"
    writer.kill()
    writer.wait()
    assert target.read_bytes() == b"old state"


# ---- train ae ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ae_runs(tmp_path_factory) -> Path:
    """``train ae`` of 6 steps at a global batch of 4: in one process, and in two of 2 crops each."""
    root = tmp_path_factory.mktemp("ae")
    alone(*TINY_AE, "--steps", "6", "--name", "one", "--models-dir", str(root / "models"), "--runs-dir",
          str(root / "runs"))
    two = torchrun(*TINY_AE, "--steps", "6", "--name", "two", "--models-dir", str(root / "models"), "--runs-dir",
                   str(root / "runs"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("two: validation PSNR") == 1                # rank 0 alone speaks
    return root


def test_two_processes_train_the_weights_of_one(ae_runs):
    from app.models.checkpoint import build
    one, two = (load_file(ae_runs / "models" / f"{n}.safetensors") for n in ("one", "two"))
    card = json.loads((ae_runs / "models" / "two.json").read_text())
    torch.manual_seed(3)                                                # the weights the training started from
    initial = build(card).state_dict()
    assert one.keys() == two.keys()
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-5
    assert max((one[k] - initial[k]).abs().max().item() for k in one) > 1e-3     # they did learn
    training = card["training"]
    assert (training["global_batch"], training["processes"], training["batch_per_process"], training["backend"]) == \
        (4, 2, 2, "gloo")
    runs = ae_runs / "runs" / "two"
    assert (runs / "state.pt").is_file() and len(list(runs.glob("step-000006-*.png"))) == 2
    assert not list(runs.glob(".*"))                                     # no temporary file left


def test_the_checkpoint_of_two_processes_dreams_in_the_engine(ae_runs):
    from app.gl.context import headless_context
    from app.gl.mixer import RuleSet
    from app.loop.engine import Engine
    from app.models.checkpoint import load
    from app.params import make_registry
    from test_train import StillSource

    ctx = headless_context()
    registry = make_registry()
    registry.set("dream", 1.0)
    engine = Engine(ctx, registry, load(str(ae_runs / "models" / "two.safetensors")),
                    StillSource(np.zeros((32, 32, 3), np.uint8)), 32, "cpu", rules=RuleSet(ctx, registry))
    try:
        frames = []
        for _ in range(5):
            engine.step()
            frames.append(engine.last_prediction.clone())
        assert torch.isfinite(frames[-1]).all() and engine.message == ""
        assert not torch.equal(frames[0], frames[-1])                  # it dreams on
    finally:
        engine.release()
        ctx.release()


def test_a_run_resumes_on_another_number_of_processes(ae_runs):
    dirs = ["--models-dir", str(ae_runs / "models"), "--runs-dir", str(ae_runs / "runs")]
    alone(*TINY_AE, "--steps", "9", "--resume", str(ae_runs / "runs" / "two" / "state.pt"), "--name", "two-on-one",
          *dirs)
    two = torchrun(*TINY_AE, "--steps", "9", "--resume", str(ae_runs / "runs" / "one" / "state.pt"), "--name",
                   "one-on-two", *dirs)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = (load_file(ae_runs / "models" / f"{n}.safetensors") for n in ("two-on-one", "one-on-two"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    assert json.loads((ae_runs / "models" / "one-on-two.json").read_text())["training"]["steps"] == 9


def test_a_batch_that_does_not_split_over_the_processes_is_one_line(tmp_path):
    dirs = ["--models-dir", str(tmp_path / "models"), "--runs-dir", str(tmp_path / "runs"), "--name", "odd"]
    alone(*TINY_AE[:6], "--batch", "3", *TINY_AE[8:], "--steps", "1", *dirs)
    state = tmp_path / "runs" / "odd" / "state.pt"
    resumed = torchrun(*TINY_AE[:6], *TINY_AE[8:], "--steps", "2", "--resume", str(state), *dirs)
    assert resumed.returncode != 0
    lines = errors(resumed.stdout + resumed.stderr)
    assert len(lines) == 1 and "its run's global batch of 3 crops (from 1 process) does not split over this run's " \
                               "2 processes" in lines[0], lines
    assert not APP_FRAMES.search(resumed.stderr)


def test_a_rank_that_dies_ends_the_run_in_one_line_and_leaves_whole_files(tmp_path):
    run = tmp_path / "runs" / "k"
    command = _torchrun_command(2, [*TINY_AE, "--steps", "100000", "--snapshot-minutes", "0.001", "--name", "k",
                                    "--models-dir", str(tmp_path / "models"), "--runs-dir", str(tmp_path / "runs")])
    launcher = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (run / "state.pt").is_file() and time.monotonic() < deadline and launcher.poll() is None:
            time.sleep(0.2)
        assert (run / "state.pt").is_file(), "training never snapshot"
        time.sleep(0.5)                                                 # in the middle of snapshots
        victim = next(pid for pid in _children(launcher.pid) if b"\0RANK=1\0" in _environ(pid))
        os.kill(victim, signal.SIGKILL)
        output, _ = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    lines = errors(output)
    assert len(lines) == 1 and f"rank 1 (pid {victim}) of 2 died, so rank 0 stopped too" in lines[0], output[-3000:]
    assert f"--resume {run / 'state.pt'}" in lines[0]
    assert not APP_FRAMES.search(output)
    assert not list(run.glob(".*")) and not (tmp_path / "models").exists()
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["processes"] == 2 and state["batch"] == 4 and state["step"] >= 1


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _environ(pid: int) -> bytes:
    return b"\0" + Path(f"/proc/{pid}/environ").read_bytes()


@pytest.mark.skipif(dist.is_nccl_available(), reason="this torch has NCCL")
def test_nccl_missing_is_one_line(tmp_path):
    result = torchrun(*TINY_AE, "--steps", "1", "--backend", "nccl", "--runs-dir", str(tmp_path), processes=1)
    assert result.returncode != 0
    lines = errors(result.stdout + result.stderr)
    assert len(lines) == 1 and f"NCCL is missing: this torch ({torch.__version__}) was built without it" in lines[0]


# ---- train pvm --streams ---------------------------------------------------------------------------
def test_streams_over_two_processes_make_the_update_of_one(tmp_path):
    from test_pvm import TEST_SPECS
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TEST_SPECS["one-step"]))
    args = ["train", "pvm", "--spec", str(spec), "--source", "sample", "--steps", "40", "--streams", "4", "--device",
            "cpu", "--models-dir", str(tmp_path / "models"), "--runs-dir", str(tmp_path / "runs")]
    alone(*args, "--name", "one")
    two = torchrun(*args, "--name", "two")
    assert two.returncode == 0, two.stderr[-3000:]
    for name in ("state.safetensors", "state.streams.safetensors"):
        one, other = (load_file(tmp_path / "runs" / run / name) for run in ("one", "two"))
        assert one.keys() == other.keys()
        worst = {k: (one[k].double() - other[k].double()).abs().max().item() for k in one if one[k].numel()}
        assert max(worst.values()) < 1e-5, worst
    state = load_file(tmp_path / "runs" / "one" / "state.safetensors")
    assert all(state[f"g{k}.v2"].abs().max() > 1e-4 for k in (0, 1))              # both groups learned
    card = json.loads((tmp_path / "models" / "two.json").read_text())
    assert card["streams"] == 4 and card["frames_seen"] == 160
    assert card["processes"] == {"count": 2, "backend": "gloo", "streams_each": 2}


# ---- hypnagogia attractors -------------------------------------------------------------------------
def report(folder: Path) -> dict:
    found = json.loads((folder / "report.json").read_text())
    found["summary"].pop("seconds")
    return found


def test_a_survey_of_two_processes_writes_the_report_of_one(tmp_path, shipped_checkpoint):
    args = ["attractors", "--model", str(shipped_checkpoint), "--starts", "16", "--steps", "300", "--size", "32"]
    alone(*args, "--out", str(tmp_path / "one"))
    two = torchrun(*args, "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    one = report(tmp_path / "one")
    assert one == report(tmp_path / "two")
    assert one["summary"]["distinct_attractors"] >= 2, one["summary"]       # a survey worth comparing
    assert two.stdout.count("report:") == 1


def test_a_pvm_survey_sleeps_on_rank_0_and_the_others_survey_its_weights(tmp_path):
    from test_pvm_survey import TRAINING_STEPS
    from app.models.checkpoint import save
    from app.models.pvm.model import PVM
    from app.models.pvm.spec import load_spec
    from app.sources import open_source

    model = PVM(load_spec("pvm-small"), seed=1)
    source = open_source("sample", model.spec.frame_size, realtime=False)
    for _ in range(TRAINING_STEPS):
        model.step(torch.from_numpy(source.read()).permute(2, 0, 1).float() / 255)
    source.close()
    young = save(model, tmp_path / "young.safetensors", {"description": "pvm-small, briefly trained, for tests"})
    args = ["attractors", "--model", str(young), "--starts", "6", "--steps", "60", "--hold", "20", "--sleep-dreams",
            "2"]
    alone(*args, "--out", str(tmp_path / "one"))
    two = torchrun(*args, "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    comparisons = []
    for run in ("one", "two"):
        comparison = json.loads((tmp_path / run / "comparison.json").read_text())
        for part in ("sleep", "before", "after"):
            comparison[part].pop("seconds")
        comparisons.append(comparison)
        for phase in ("before", "after"):
            comparison[f"{phase} report"] = report(tmp_path / run / phase)
    assert comparisons[0] == comparisons[1]
    assert all(v > 0 for v in comparisons[0]["sleep"]["relative_weight_change"].values())
    # the second survey ran on the slept weights on both ranks: rank 1's starts moved as rank 0's did
    assert comparisons[0]["before"]["late_change_median"] != comparisons[0]["after"]["late_change_median"]
