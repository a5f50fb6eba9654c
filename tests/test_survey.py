"""The basin survey end to end on a small model: starts, batched dreaming, detection, clustering, report."""

import json

import numpy as np

from app.analysis.attractors import CYCLE, FIXED_POINT, Verdict
from app.survey.survey import START_KINDS, SurveyConfig, cluster, make_starts
from conftest import run_cli


def test_starts_cover_every_kind():
    starts = make_starts(SurveyConfig(starts=12, size=32))
    assert [s.kind for s in starts[:6]] == list(START_KINDS)
    images = [s.image for s in starts if s.image is not None]
    assert all(i.shape == (32, 32, 3) and 0 <= i.min() and i.max() <= 1 for i in images)
    shifted = next(s for s in starts if s.kind == "shifted frame")
    frame = next(s for s in starts if s.kind == "clip frame")
    assert not np.allclose(shifted.image, frame.image)


def test_clustering_merges_close_ends_and_separates_kinds():
    a, b = np.zeros(10), np.ones(10)
    verdicts = [Verdict(FIXED_POINT, 5), Verdict(FIXED_POINT, 7), Verdict(FIXED_POINT, 9),
                Verdict(CYCLE, 3, period=2), Verdict("wandering")]
    attractors, basins = cluster(verdicts, [a, a + 0.001, b, a, b], tolerance=0.05)
    assert [a_["kind"] for a_ in attractors] == [FIXED_POINT, FIXED_POINT, CYCLE]
    assert [sorted(bs.members) for bs in basins] == [[0, 1], [2], [3]]
    assert attractors[0]["share"] == 0.4


def test_survey_command_writes_a_report(tmp_path, model_arg):
    out = tmp_path / "survey"
    result = run_cli("attractors", "--starts", "12", "--steps", "40", "--size", "32", "--out", str(out), *model_arg)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["starts"] == 12
    assert len(report["starts"]) == 12
    settled = report["summary"]["fixed_points"] + report["summary"]["cycles"]
    assert sum(len(a["starts"]) for a in report["attractors"]) == settled
    html = (out / "report.html").read_text()
    for figure in ("changes.png", "convergence.png"):
        assert figure in html and (out / figure).stat().st_size > 1000
    assert "distinct attractors" in result.stdout
