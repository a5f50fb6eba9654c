"""The patches of natural images that drive a unit most: the bundled photos and frames of the sample clip.

A model that computes one function at every position (a convolution) is scanned at every position of
every image, and a patch is the receptive field at the best positions (only positions whose field lies
inside the image, a few per image, apart by half a field); the photos are scaled so their short side is
the probe's frame size, the scale at which the loop shows them. A model whose units each have weights of
their own (a PVM) reads each image fitted to its frame, and a patch is the unit's own field in the best
frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np
import torch

from app.models.probing import ProbeTarget, UnitProbe, check_target
from app.sources import SAMPLE_CLIP
from app.sources.fit import fit_square
from app.sources.photos import bundled_photos

CLIP_EVERY = 15                 # every 15th frame of the sample clip (48 of its 720)
PER_IMAGE = 3


@dataclass
class TopPatch:
    source: str
    position: tuple[int, int]       # the unit's position in the scanned image's grid
    box: tuple[int, int, int, int]  # the patch in the scanned image's pixels
    response: float
    patch: np.ndarray               # (h, w, 3) float in [0, 1]

    def to_dict(self) -> dict:
        return {"source": self.source, "position": list(self.position), "box": list(self.box),
                "response": round(self.response, 6)}


def scan_images(size: int, resizable: bool, clip_every: int = CLIP_EVERY) -> Iterator[tuple[str, np.ndarray]]:
    """(name, (H, W, 3) uint8) of every bundled photo and every ``clip_every``-th frame of the sample clip,
    at the scale a probe of frame size ``size`` reads them."""
    for name, photo in bundled_photos().items():
        if resizable:
            h, w = photo.shape[:2]
            scale = size / min(h, w)
            yield name, cv2.resize(photo, (max(1, round(w * scale)), max(1, round(h * scale))),
                                   interpolation=cv2.INTER_AREA)
        else:
            yield name, fit_square(photo, size)
    if not SAMPLE_CLIP.is_file():
        return
    capture = cv2.VideoCapture(str(SAMPLE_CLIP))
    index = 0
    try:
        while capture.grab():
            if index % clip_every == 0:
                ok, frame = capture.retrieve()
                if ok:
                    yield f"sample clip frame {index}", fit_square(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), size)
            index += 1
    finally:
        capture.release()


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div_(255)


def _geometry(probe: UnitProbe, target: ProbeTarget) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """A shared-weight layer's field as (top, left) at position (0, 0), its jump per position and its size."""
    here = probe.receptive_field(target)
    row, column = target.position
    rows, columns = check_target(probe, target).grid
    other = (row + 1 if row + 1 < rows else row - 1, column + 1 if column + 1 < columns else column - 1)
    there = probe.receptive_field(ProbeTarget(target.layer, target.unit, other))
    jump = ((there.top - here.top) // (other[0] - row) if other[0] != row else 1,
            (there.left - here.left) // (other[1] - column) if other[1] != column else 1)
    origin = (here.top - jump[0] * row, here.left - jump[1] * column)
    return origin, jump, (here.height, here.width)


def top_patches(probe: UnitProbe, targets: list[ProbeTarget], k: int = 8,
                images: Iterable[tuple[str, np.ndarray]] | None = None, progress=None) -> list[list[TopPatch]]:
    """The ``k`` patches that drive each target most (targets of one layer), best first."""
    if not targets:
        return []
    layer = targets[0].layer
    if any(t.layer != layer for t in targets):
        raise ValueError("top_patches takes targets of one layer")
    images = images if images is not None else scan_images(probe.size, probe.resizable)
    found: list[list[TopPatch]] = [[] for _ in targets]
    units = [t.unit for t in targets]
    shared = probe.shared_weights
    geometry = [_geometry(probe, t) for t in targets] if shared else None
    with torch.no_grad():
        for name, image in images:
            maps = probe.responses(_tensor(image), layer)[0, units].float().cpu().numpy()
            for i, target in enumerate(targets):
                if shared:
                    found[i] += _best_positions(name, image, maps[i], *geometry[i])
                else:
                    row, column = target.position
                    t, l, b, r = probe.receptive_field(target).clipped(image.shape[0], image.shape[1]).box
                    found[i].append(TopPatch(name, (row, column), (t, l, b, r), float(maps[i, row, column]),
                                             image[t:b, l:r].astype(np.float32) / 255))
                found[i] = sorted(found[i], key=lambda p: -p.response)[:k]
            if progress is not None:
                progress(name)
    return found


def _best_positions(name: str, image: np.ndarray, response: np.ndarray, origin, jump, extent) -> list[TopPatch]:
    """The best few positions of one response map whose field lies inside the image, apart by half a field."""
    height, width = image.shape[:2]
    rows, columns = response.shape
    tops = origin[0] + jump[0] * np.arange(rows)
    lefts = origin[1] + jump[1] * np.arange(columns)
    valid = ((tops >= 0) & (tops + extent[0] <= height))[:, None] & ((lefts >= 0) & (lefts + extent[1] <= width))[None]
    if not valid.any():
        return []
    scores = np.where(valid, response, -np.inf)
    apart = (max(1, extent[0] // (2 * max(1, jump[0]))), max(1, extent[1] // (2 * max(1, jump[1]))))
    out = []
    for flat in np.argsort(-scores, axis=None):
        row, column = divmod(int(flat), columns)
        if not np.isfinite(scores[row, column]) or len(out) == PER_IMAGE:
            break
        if any(abs(row - p.position[0]) < apart[0] and abs(column - p.position[1]) < apart[1] for p in out):
            continue
        t, l = int(tops[row]), int(lefts[column])
        box = (t, l, t + extent[0], l + extent[1])
        out.append(TopPatch(name, (row, column), box, float(response[row, column]),
                            image[box[0]:box[2], box[1]:box[3]].astype(np.float32) / 255))
    return out
