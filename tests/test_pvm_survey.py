"""The basin survey of a PVM: starts from one restored state, sleep, and the before/after reports."""

import json

import numpy as np
import pytest
import torch

from app.models.pvm.dreamer import PVMDreamer
from app.survey.in_turn import InTurnConfig, SleepConfig, sleep, survey_before_after, survey_in_turn
from app.survey.survey import SurveyConfig
from app.models.checkpoint import save
from app.models.pvm.model import PVM
from app.models.pvm.spec import load_spec
from app.sources import open_source
from conftest import run_cli

TRAINING_STEPS = 300        # young enough that its dreams settle, so that it falls asleep


@pytest.fixture(scope="module")
def young_pvm() -> PVM:
    model = PVM(load_spec("pvm-small"), seed=1)
    source = open_source("sample", model.spec.frame_size, realtime=False)
    for _ in range(TRAINING_STEPS):
        model.step(torch.from_numpy(source.read()).permute(2, 0, 1).float() / 255)
    source.close()
    return model


@pytest.fixture(scope="module")
def young_checkpoint(young_pvm, tmp_path_factory):
    return save(young_pvm, tmp_path_factory.mktemp("pvm") / "pvm-young.safetensors",
                {"description": f"pvm-small after {TRAINING_STEPS} steps on the sample clip, for tests"})


def small_config(pvm: PVM, **sleep) -> InTurnConfig:
    return InTurnConfig(SurveyConfig(starts=6, steps=40, size=pvm.spec.frame_size), hold=10,
                           sleep=SleepConfig(**sleep))


def weights(pvm: PVM) -> list[torch.Tensor]:
    return [*pvm.input_weights(), *(g.w2.clone() for g in pvm.groups)]


def test_every_start_runs_from_the_same_state_and_leaves_it(young_pvm):
    before = young_pvm.state_dict()
    config = small_config(young_pvm)
    first, second = (survey_in_turn(PVMDreamer(young_pvm), config, progress=False) for _ in range(2))
    assert all(torch.equal(v, young_pvm.state_dict()[k]) for k, v in before.items())
    assert first.verdicts == second.verdicts
    np.testing.assert_array_equal(first.end_frames, second.end_frames)
    assert first.changes.shape == (6, 40) and first.start_frames.shape == (6, 60, 60, 3)
    # the held frame shaped the dream: different starts end differently
    assert len({f.tobytes() for f in first.end_frames}) > 1


def test_sleep_unlearns_only_while_settled(young_pvm):
    snapshot = young_pvm.state_dict()
    untouched = weights(young_pvm)
    awake = sleep(PVMDreamer(young_pvm), small_config(young_pvm, dreams=2, threshold=0.0), progress=False)
    assert awake.episodes == [0, 0] and not awake.asleep.any()
    assert all(torch.equal(a, b) for a, b in zip(untouched, weights(young_pvm)))

    # a threshold no change reaches: asleep from the step after `patience` quiet steps to the dream's end
    slept = sleep(PVMDreamer(young_pvm), small_config(young_pvm, dreams=2, threshold=1.0, patience=3), progress=False)
    assert slept.episodes == [1, 1]
    assert slept.asleep.sum(axis=1).tolist() == [40 - 3, 40 - 3]
    assert not slept.asleep[:, :3].any()
    assert all(v > 0 for v in slept.weight_change.values())
    assert young_pvm.learning is False and young_pvm.learning_rate is None
    young_pvm.load_state_dict(snapshot)


def test_a_sleep_that_never_comes_leaves_the_survey_unchanged(young_pvm):
    """Sleep dreams move the activity, not the weights: the after survey starts where the before survey did."""
    snapshot = young_pvm.state_dict()
    result = survey_before_after(PVMDreamer(young_pvm), small_config(young_pvm, dreams=2, threshold=0.0), progress=False)
    assert result.sleep.episodes == [0, 0]
    assert result.after.verdicts == result.before.verdicts
    np.testing.assert_array_equal(result.after.changes, result.before.changes)
    young_pvm.load_state_dict(snapshot)


def test_before_and_after_sleep_reports(young_checkpoint, tmp_path):
    out = tmp_path / "survey"
    result = run_cli("attractors", "--model", str(young_checkpoint), "--starts", "6", "--steps", "60", "--hold",
                     "20", "--sleep-dreams", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    comparison = json.loads((out / "comparison.json").read_text())
    slept = comparison["sleep"]
    assert slept["dreams"] == 3 and len(slept["episodes_per_dream"]) == 3 and len(slept["starts"]) == 3
    assert slept["episodes"] == sum(slept["episodes_per_dream"]) >= 1
    assert 0 < slept["sleeping_steps"] <= 3 * 60
    assert all(v > 0 for v in slept["relative_weight_change"].values())
    for phase in ("before", "after"):
        report = json.loads((out / phase / "report.json").read_text())
        facts = report["summary"]
        assert facts["starts"] == len(report["starts"]) == 6 and facts["size"] == 60
        assert facts["fixed_points"] + facts["cycles"] + facts["wandering"] == 6
        assert sum(facts["basin_shares"]) + facts["wandering"] / 6 == pytest.approx(1)
        assert sum(len(a["starts"]) for a in report["attractors"]) == 6 - facts["wandering"]
        assert report["config"]["hold"] == 20
        assert comparison[phase]["basin_shares"] == facts["basin_shares"]
        assert sum(comparison[phase]["convergence_histogram"]["counts"]) == 6 - facts["wandering"]
        page = (out / phase / "report.html").read_text()
        assert 'href="../comparison.html"' in page
        assert (out / phase / "convergence.png").stat().st_size > 1000
    page = (out / "comparison.html").read_text()
    assert 'href="before/report.html"' in page and 'href="after/report.html"' in page
    for figure in ("comparison.png", "sleep.png"):
        assert figure in page and (out / figure).stat().st_size > 1000
    assert "before sleep:" in result.stdout and "after sleep:" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("--sleep-dreams", "2"), "--sleep-dreams is for models that learn online (PVM)"),
    (("--dream", "full"), "--dream is for models that learn online (PVM)"),
])
def test_pvm_options_with_an_autoencoder_fail_in_one_line(model_arg, tmp_path, args, message):
    result = run_cli("attractors", *model_arg, "--starts", "2", "--steps", "2", "--out", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_pvm_survey_at_another_size_fails_in_one_line(young_checkpoint, tmp_path):
    result = run_cli("attractors", "--model", str(young_checkpoint), "--size", "64", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "60×60" in result.stderr and len(result.stderr.strip().splitlines()) == 1
