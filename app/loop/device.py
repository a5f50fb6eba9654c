"""Where torch runs, and in which number format."""

from __future__ import annotations

import torch

from app.errors import UserError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# what the textures handed between GL and torch hold: a model computing in 16 bits gains nothing from
# 32-bit hand-overs, and on a GPU every texel is bytes for the copies and the GLSL passes to move
TEXTURE_FORMATS = {"fp32": "f4", "fp16": "f2", "bf16": "f2"}


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA GPU here; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps: torch sees no Apple GPU here; use --device auto or cpu")
    return torch.device(name)
