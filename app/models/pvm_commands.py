"""``hypnagogia train pvm``: its arguments, under the ``train`` command that ``train ae`` shares."""

from __future__ import annotations

import argparse

from app import MODEL_DIR, ROOT


def register(subparsers, add_common) -> None:
    from app.cli import positive_int
    from app.train.commands import positive_float

    pvm = _train_kinds(subparsers).add_parser(
        "pvm", help="train a Predictive Vision Model online on a video and export it to models/NAME",
        description="The PVM learns online, one frame per step, to predict its next input at every layer.")
    pvm.add_argument("--spec", default=None, help="spec name in models/specs (pvm-small, pvm-paper, pvm-large) "
                     "or a .json path; optional with --resume")
    pvm.add_argument("--source", default="sample", help="sample (the bundled clip), webcam, webcam:N, or a "
                     "video path (default sample)")
    pvm.add_argument("--steps", type=positive_int, default=10000, help="steps to run now (default 10000)")
    pvm.add_argument("--minutes", type=positive_float, default=None, metavar="M",
                     help="stop after M minutes of training even if --steps are not done (then export)")
    pvm.add_argument("--name", default=None, help="model name: exports models/NAME.safetensors + .json, "
                     "snapshots go to runs/NAME/ (default: the spec's name)")
    pvm.add_argument("--resume", default=None, metavar="CKPT", help="continue from runs/NAME/state.safetensors "
                     "or a models/*.safetensors PVM")
    pvm.add_argument("--snapshot-every", type=positive_int, default=5000, metavar="N",
                     help="steps between snapshots of the state and the error curve (default 5000)")
    pvm.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                     help="where torch runs: auto takes CUDA, then MPS, else the CPU")
    pvm.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    pvm.add_argument("--models-dir", default=str(MODEL_DIR), help="where the model is exported (default models/)")
    pvm.add_argument("--runs-dir", default=str(ROOT / "runs"), help="where run folders go (default runs/)")
    pvm.set_defaults(run=_train_pvm, assignments=[])


def _train_kinds(subparsers) -> argparse._SubParsersAction:
    """The sub-commands of ``train`` (``train ae`` registers it), creating ``train`` if it is missing."""
    train = subparsers.choices.get("train") or subparsers.add_parser("train", help="train a model")
    for action in train._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return train.add_subparsers(dest="kind", metavar="KIND", required=True)


def _train_pvm(args) -> int:
    from app.models.pvm_train import train_pvm

    return train_pvm(args)
