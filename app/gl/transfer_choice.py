"""Which tensor↔texture transfer the loop uses here."""

from __future__ import annotations

import os

import moderngl
import torch

from app.gl.host_transfer import HostTransfer
from app.gl.interop import try_interop
from app.gl.transfer import Transfer


def pick_transfer(ctx: moderngl.Context, device: torch.device) -> tuple[Transfer, str]:
    """The fastest transfer that works here, and a line saying which and why. The environment
    variable HYPNAGOGIA_TRANSFER=host forces host copies (to compare, or to get round a driver)."""
    if os.environ.get("HYPNAGOGIA_TRANSFER", "auto") == "host":
        return HostTransfer(), "host copies (HYPNAGOGIA_TRANSFER=host)"
    transfer, why = try_interop(ctx, device)
    return (transfer or HostTransfer()), why
