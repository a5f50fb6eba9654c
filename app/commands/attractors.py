"""``hypnagogia attractors``: a basin survey of a model's dreams, written as an HTML report."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from app.analysis.attractors import DetectorConfig
from app.analysis.report import summary, write_report
from app.analysis.survey import SurveyConfig, run_survey
from app.session import load_model


def attractors(args) -> int:
    loaded = load_model(args.model, torch.device("cpu"))
    model = loaded.model
    if args.size % model.size_multiple:
        from app.errors import UserError
        raise UserError(f"--size {args.size} does not suit {loaded.name}: use a multiple of {model.size_multiple}")
    config = SurveyConfig(starts=args.starts, steps=args.steps, size=args.size, source=args.source, seed=args.seed,
                          cluster_tolerance=args.cluster_tolerance,
                          detector=DetectorConfig(tolerance=args.tolerance, patience=args.patience))
    start = time.perf_counter()
    result = run_survey(model, config)
    seconds = time.perf_counter() - start
    path = write_report(result, Path(args.out), loaded.name, seconds)
    facts = summary(result)
    print(f"{facts['starts']} starts × {facts['steps']} steps in {seconds:.0f} s: {facts['distinct_attractors']} "
          f"distinct attractors ({facts['fixed_points']} fixed points, {facts['cycles']} cycles, "
          f"{facts['wandering']} still wandering)")
    print(f"report: {path}")
    return 0
