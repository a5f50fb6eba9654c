"""The controllers' own parameters (tempo, morph, audio, …), declared beside the loop's."""

from __future__ import annotations

from app.controllers import audio, modulators, morph, presets, tempo
from app.params import Param


def controller_params() -> list[Param]:
    return [*tempo.PARAMS, *presets.PARAMS, *morph.PARAMS, *modulators.PARAMS, *audio.PARAMS]
