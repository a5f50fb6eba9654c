"""Moving tensors to textures and back. Every tensor↔texture copy in the app goes through a transfer:
``HostTransfer`` here (any torch device, any GL driver) or ``app.gl.interop.CudaGLTransfer`` (CUDA
tensors, no host round trip); ``pick_transfer`` chooses at start.

Both give the same session interface: ``with transfer.mapped(read=…, write=…) as m`` then
``m.read(texture, out)``, ``m.view(texture)`` (a tensor valid inside the session) and
``m.write(texture, tensor)``."""

from __future__ import annotations

import os
from contextlib import contextmanager

import moderngl
import numpy as np
import torch


TORCH_DTYPES = {"f4": torch.float32, "f2": torch.float16}     # float texture formats → tensor dtypes


class HostTransfer:
    """Copies through host memory: works with any torch device and any GL driver."""

    name = "host copies"

    def upload(self, texture: moderngl.Texture, tensor: torch.Tensor) -> None:
        """Write an (H, W, C) float tensor into a float texture of that size (C ≤ its components)."""
        array = tensor.detach().to("cpu", TORCH_DTYPES[texture.dtype])
        if array.shape[-1] < texture.components:
            array = torch.cat([array, array.new_zeros((*array.shape[:-1], texture.components - array.shape[-1]))], -1)
        texture.write(array.contiguous().numpy())

    def download(self, texture: moderngl.Texture, device: torch.device | str = "cpu") -> torch.Tensor:
        """Read a float texture as a (H, W, components) float32 tensor on ``device``."""
        width, height = texture.size
        array = np.frombuffer(texture.read(), dtype=texture.dtype).reshape(height, width, texture.components)
        return torch.from_numpy(array.astype(np.float32)).to(device)

    def upload_many(self, pairs: list[tuple[moderngl.Texture, torch.Tensor]]) -> None:
        for texture, tensor in pairs:
            self.upload(texture, tensor)

    def download_many(self, pairs: list[tuple[moderngl.Texture, torch.Tensor]]) -> None:
        for texture, out in pairs:
            self.read(texture, out)

    def read(self, texture: moderngl.Texture, out: torch.Tensor) -> None:
        """Read a texture into a preallocated tensor of its shape."""
        out.copy_(self.download(texture, out.device))

    write = upload      # the names a mapped session (``mapped``) uses

    def view(self, texture: moderngl.Texture, out: torch.Tensor | None = None) -> torch.Tensor:
        """The texture's content as a (H, W, components) tensor: ``out`` if given, else a new float32
        one on the CPU."""
        if out is None:
            return self.download(texture)
        self.read(texture, out)
        return out

    @contextmanager
    def mapped(self, read=(), write=()):
        """The session interface of ``CudaGLTransfer.mapped`` (``read``, ``write``); host copies need no
        mapping."""
        yield self

    def forget(self, texture: moderngl.Texture) -> None:
        pass

    def release(self) -> None:
        pass


def pick_transfer(ctx: moderngl.Context, device: torch.device) -> tuple[object, str]:
    """The fastest transfer that works here, and a line saying which and why. The environment
    variable HYPNAGOGIA_TRANSFER=host forces host copies (to compare, or to get round a driver)."""
    from app.gl.interop import try_interop

    if os.environ.get("HYPNAGOGIA_TRANSFER", "auto") == "host":
        return HostTransfer(), "host copies (HYPNAGOGIA_TRANSFER=host)"
    transfer, why = try_interop(ctx, device)
    return (transfer or HostTransfer()), why
