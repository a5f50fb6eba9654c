"""``hypnagogia attractors``: a basin survey of a model's dreams, written as an HTML report; for a PVM
also before and after sleep."""

from __future__ import annotations

import time
from pathlib import Path

from app.commands.args import non_negative_int, positive_int, positive_size
from app.errors import UserError

DEFAULT_HOLD = 100


def register(sub) -> None:
    survey = sub.add_parser("attractors", help="basin survey: dream from many starts at once, map where they "
                            "end, write an HTML report")
    survey.add_argument("--model", default=None, help="model name or checkpoint path")
    survey.add_argument("--starts", type=positive_int, default=64, help="number of starts (default 64)")
    survey.add_argument("--steps", type=positive_int, default=300, help="dream steps per start (default 300)")
    survey.add_argument("--size", type=positive_size, default=None,
                        help="dream size in pixels (default 64; a PVM dreams at its spec's frame size)")
    survey.add_argument("--source", default="sample", help="video or image whose frames seed some starts")
    survey.add_argument("--seed", type=int, default=0)
    survey.add_argument("--tolerance", type=float, default=2e-3, help="RMS change counted as no change")
    survey.add_argument("--patience", type=positive_int, default=20, help="steps the change must stay under it")
    survey.add_argument("--cluster-tolerance", type=float, default=0.12,
                        help="RMS difference between 16×16 end frames under which two ends are one attractor")
    survey.add_argument("--hold", type=positive_int, default=None, metavar="H",
                        help="PVM: steps each start frame is shown, learning off, before the dream (default 100)")
    survey.add_argument("--dream", choices=("deep", "full"), default=None,
                        help="PVM: deep (every layer reads its own prediction; the default) or full (only the frame)")
    survey.add_argument("--sleep-dreams", type=non_negative_int, default=0, metavar="K",
                        help="PVM: after the survey, sleep through K dreams (negative learning while a dream is "
                             "settled), survey again and compare (default 0: no sleep)")
    survey.add_argument("--out", required=True, help="folder for report.html, report.json and the images (with "
                        "--sleep-dreams: before/, after/ and comparison.html)")
    survey.set_defaults(run=run, assignments=[])


def run(args) -> int:
    from app.train.distributed import one_voice

    return one_voice(_run_in_session)(args)


def _run_in_session(args) -> int:
    import torch

    from app.train.distributed import session

    # the survey computes on the CPU, so its processes talk over gloo wherever they run
    with session(torch.device("cpu"), "gloo", lambda: "no report was written") as (team, _):
        return _run(args, team)


def _run(args, team) -> int:
    import torch

    from app.loop.session import load_model
    from app.survey.report import write_report
    from app.survey.survey import SurveyConfig, run_survey

    loaded = load_model(args.model, torch.device("cpu"))
    capabilities = loaded.runtime().capabilities
    if not capabilities.batched:        # a model that steps one frame at a time dreams its starts in turn
        return _survey_in_turn(loaded, args, team)
    sequential_only = [flag for flag, given in (("--sleep-dreams", args.sleep_dreams),
                                                ("--hold", args.hold is not None),
                                                ("--dream", args.dream is not None)) if given]
    if sequential_only:
        flag = sequential_only[0]
        raise UserError(f"{flag} is for models that learn online (PVM); {loaded.name} dreams its starts as one "
                        f"batch (drop {flag})")
    model = loaded.model
    size = args.size or SurveyConfig.size
    if not capabilities.suits(size):
        raise UserError(f"--size {size} does not suit {loaded.name}: it {capabilities.size_rule()}")
    config = _survey_config(args, size)
    start = time.perf_counter()
    result = run_survey(model, config, team=team)
    if result is None:              # another process's share, gathered by rank 0
        return 0
    seconds = time.perf_counter() - start
    path = write_report(result, Path(args.out), loaded.name, seconds)
    _print_summary(result, seconds)
    print(f"report: {path}")
    return 0


def _survey_config(args, size: int):
    from app.analysis.attractors import DetectorConfig
    from app.survey.survey import SurveyConfig

    return SurveyConfig(starts=args.starts, steps=args.steps, size=size, source=args.source, seed=args.seed,
                        cluster_tolerance=args.cluster_tolerance,
                        detector=DetectorConfig(tolerance=args.tolerance, patience=args.patience))


def _print_summary(result, seconds: float, label: str = "") -> None:
    from app.survey.report import summary

    facts = summary(result)
    print(f"{label}{facts['starts']} starts × {facts['steps']} steps in {seconds:.0f} s: "
          f"{facts['distinct_attractors']} distinct attractors ({facts['fixed_points']} fixed points, "
          f"{facts['cycles']} cycles, {facts['wandering']} still wandering)")


def _survey_in_turn(loaded, args, team) -> int:
    import torch

    from app.loop.session import model_size
    from app.survey.in_turn import InTurnConfig, SleepConfig, survey_before_after, survey_in_turn
    from app.survey.report import write_report
    from app.survey.sleep_comparison import write_comparison

    if loaded.kind.dreamer is None:
        raise UserError(f"{loaded.name} dreams neither as a batch nor one start at a time; its kind offers no "
                        f"survey")
    if args.sleep_dreams and not loaded.runtime().capabilities.learns:
        raise UserError(f"--sleep-dreams needs a model that learns; {loaded.name} does not (drop --sleep-dreams)")
    # one step is many small matrix products: a second thread only waits on a busy CPU
    torch.set_num_threads(1)
    dreamer = loaded.kind.dreamer(loaded.model)
    config = InTurnConfig(_survey_config(args, model_size(loaded, args.size, torch.device("cpu"))),
                             hold=args.hold or DEFAULT_HOLD, dream=args.dream or "deep",
                             sleep=SleepConfig(dreams=args.sleep_dreams))
    out = Path(args.out)
    settings = {"dream": f"{config.dream} dream", "hold": config.hold}
    if not config.sleep.dreams:
        start = time.perf_counter()
        result = survey_in_turn(dreamer, config, team=team)
        if result is None:
            return 0
        seconds = time.perf_counter() - start
        path = write_report(result, out, loaded.name, seconds, settings)
        _print_summary(result, seconds)
        print(f"report: {path}")
        return 0
    result = survey_before_after(dreamer, config, team=team)
    if result is None:
        return 0
    comparison = {"before and after sleep": "../comparison.html"}
    write_report(result.before, out / "before", f"{loaded.name}, before sleep", result.seconds["before"], settings,
                 comparison | {"after sleep": "../after/report.html"})
    write_report(result.after, out / "after", f"{loaded.name}, after sleep", result.seconds["after"],
                 settings | {"slept": f"{config.sleep.dreams} dreams"},
                 comparison | {"before sleep": "../before/report.html"})
    path = write_comparison(result, config, out, loaded.name)
    _print_summary(result.before, result.seconds["before"], "before sleep: ")
    record = result.sleep
    print(f"sleep: {config.sleep.dreams} dreams in {record.seconds:.0f} s, {sum(record.episodes)} episodes, "
          f"{int(record.asleep.sum())} steps asleep")
    _print_summary(result.after, result.seconds["after"], "after sleep: ")
    print(f"report: {path}")
    return 0
