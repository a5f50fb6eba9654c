"""A gallery of the attractors a dream reached: thumbnail, full state, how it was reached.

Entries that are the same attractor (signatures closer than ``same_tolerance``) are merged and
counted. A gallery saves to a folder (``gallery.json``, one PNG and one safetensors per entry) and
loads back for the same model and size.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file, save_file

from app.errors import UserError


@dataclass
class Attractor:
    kind: str                       # "fixed point" or "cycle"
    period: int | None
    step: int                       # step at which it was recognised
    visits: int
    thumbnail: np.ndarray           # (h, w, 3) uint8
    signature: np.ndarray
    states: list[torch.Tensor] = field(repr=False)
    prediction: torch.Tensor = field(repr=False)

    def label(self) -> str:
        kind = "fixed point" if self.kind == "fixed point" else f"cycle {self.period}"
        return f"{kind} @ {self.step}" + (f" ×{self.visits}" if self.visits > 1 else "")


@dataclass
class Gallery:
    model: str
    size: int
    same_tolerance: float = 0.02
    entries: list[Attractor] = field(default_factory=list)

    def add(self, candidate: Attractor) -> tuple[Attractor, bool]:
        """Adds ``candidate`` unless the same attractor is there; returns (entry, is_new)."""
        for entry in self.entries:
            if entry.signature.shape == candidate.signature.shape and \
                    np.sqrt(np.mean((entry.signature - candidate.signature) ** 2)) < self.same_tolerance:
                entry.visits += 1
                return entry, False
        self.entries.append(candidate)
        return candidate, True

    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"model": self.model, "size": self.size, "saved": time.strftime("%Y-%m-%d %H:%M:%S"), "entries": []}
        for i, e in enumerate(self.entries):
            stem = f"attractor-{i:03d}"
            cv2.imwrite(str(folder / f"{stem}.png"), e.thumbnail[..., ::-1])
            tensors = {f"layer{l}": s.contiguous() for l, s in enumerate(e.states, 1)}
            tensors["prediction"] = e.prediction.contiguous()
            tensors["signature"] = torch.from_numpy(e.signature.astype(np.float32))
            save_file(tensors, str(folder / f"{stem}.safetensors"))
            meta["entries"].append({"file": stem, **{k: v for k, v in asdict(e).items()
                                                       if k in ("kind", "period", "step", "visits")}})
        (folder / "gallery.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> Gallery:
        folder = Path(folder)
        try:
            meta = json.loads((folder / "gallery.json").read_text())
            gallery = cls(model=meta["model"], size=int(meta["size"]))
            for item in meta["entries"]:
                tensors = load_file(str(folder / f"{item['file']}.safetensors"))
                layers = sorted((k for k in tensors if k.startswith("layer")), key=lambda k: int(k[5:]))
                thumbnail = cv2.imread(str(folder / f"{item['file']}.png"))[..., ::-1].copy()
                gallery.entries.append(Attractor(
                    kind=item["kind"], period=item.get("period"), step=int(item["step"]), visits=int(item["visits"]),
                    thumbnail=thumbnail, signature=tensors["signature"].numpy().astype(np.float64),
                    states=[tensors[k] for k in layers], prediction=tensors["prediction"]))
        except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
            raise UserError(f"cannot load the gallery in {folder} ({type(e).__name__}: {e}); pick a folder "
                            f"saved by the gallery's Save button") from None
        return gallery


def thumbnail(prediction: np.ndarray, side: int = 64) -> np.ndarray:
    """(H, W, 3) floats in [0, 1] → (side, side, 3) uint8."""
    image = (np.clip(prediction, 0, 1) * 255).astype(np.uint8)
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
