"""The seed experiments, by name.

An experiment is a config dataclass (with a ``seed`` field and a ``quick(seed)`` constructor for a
small, fast version) and ``run(config, out, progress)``, which trains, measures, writes its figures
into ``out`` and returns a result with ``markdown()`` and ``to_dict()``. Adding an experiment is one
module here and a line in ``EXPERIMENTS``. Experiments on a trained model (``takes_model``) read the
model and device into their config's ``model`` and ``device`` fields. Entries name their module,
config and function, which load only when the experiment runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    help: str
    module: str                 # in app.experiments
    config_name: str
    run_name: str
    takes_model: bool = False

    @property
    def config(self) -> type:
        return getattr(self._module(), self.config_name)

    @property
    def run(self):
        return getattr(self._module(), self.run_name)

    def _module(self):
        return importlib.import_module(f"app.experiments.{self.module}")


EXPERIMENTS = (
    Experiment("rae-toy", "Recurrent autoencoder toy (seed 002)",
               "AE, VAE, AE + Monte-Carlo chains and the recurrent AE as samplers of a paraboloid and a "
               "ring of 8 Gaussians: energy distances, mode coverage, sample clouds",
               "rae_toy", "RaeToyConfig", "run"),
    Experiment("inertia", "Representational inertia (seed 001)",
               "the β-VAE with representational inertia on circle-over-Gaussian sequences, γ = 0, 0.5, 1: "
               "next-frame error, dependence on the input, latent sweeps",
               "inertia", "InertiaConfig", "run"),
    Experiment("pvm-lesions", "PVM context lesions (seed 000)",
               "a trained PVM on held-out frames with all context, no feedback, no lateral context and neither: "
               "prediction error of the frame and of every layer",
               "pvm_lesions", "LesionsConfig", "run_lesions", takes_model=True),
    Experiment("pvm-fill-in", "PVM filling in a blind spot (seed 000)",
               "a trained PVM on held-out frames with a gray or self-predicted central square: error of the "
               "predicted next frame against the true one inside and outside the square, intact and lesioned",
               "pvm_lesions", "FillInConfig", "run_fill_in", takes_model=True),
    Experiment("pvm-static-dream", "PVM deep dream from a static frame (seed 000)",
               "a trained PVM shown one held-out frame, then deep-dreaming: per-step change and where the dream goes",
               "pvm_dreams", "StaticDreamConfig", "run_static_dream", takes_model=True),
    Experiment("probe-inits", "Preferred stimuli from different starts (seed 003)",
               "gradient ascent on N units of every layer from zeros, noise and the top patch: Pearson r between "
               "the three, per layer (the seed: r = 1 at the linear first layer, lower deeper)",
               "probe_inits", "ProbeInitsConfig", "run", takes_model=True),
    Experiment("dream-toward", "Dreaming toward a unit (seed 003)",
               "the loop dreams with and without gradient ascent on a unit, its channel or its layer, zoom off and "
               "on: the objective's mean over the dream",
               "dream_toward", "DreamTowardConfig", "run", takes_model=True),
    Experiment("pvm-replay", "PVM dream replay (seed 000)",
               "a trained PVM records a pass through a held-out clip, then dreams from a frame of it: correlation "
               "of every recorded prediction with every dream frame",
               "pvm_dreams", "ReplayConfig", "run_replay", takes_model=True),
)
