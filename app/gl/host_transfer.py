"""Tensor↔texture copies through host memory: any torch device, any GL driver."""

from __future__ import annotations

from contextlib import contextmanager

import moderngl
import numpy as np
import torch

from app.gl.transfer import TORCH_DTYPES


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
        """Host copies need no mapping: the session is the transfer itself."""
        yield self

    def forget(self, texture: moderngl.Texture) -> None:
        pass

    def release(self) -> None:
        pass
