"""The contract of moving tensors to textures and back. Every tensor↔texture copy in the app goes
through a ``Transfer``: ``app.gl.host_transfer.HostTransfer`` (any torch device, any GL driver) or
``app.gl.interop.CudaGLTransfer`` (CUDA tensors, no host round trip); ``app.gl.transfer_choice``
picks one at start.

A step hands everything over in one session, ``with transfer.mapped(read=…, write=…) as m``, then
``m.read(texture, out)``, ``m.view(texture)`` (a tensor valid inside the session) and
``m.write(texture, tensor)``: with interop a map/unmap pair costs the driver the same however many
textures it takes."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

import moderngl
import torch

TORCH_DTYPES = {"f4": torch.float32, "f2": torch.float16}     # float texture formats → tensor dtypes


class MappedSession(Protocol):
    def read(self, texture: moderngl.Texture, out: torch.Tensor) -> None:
        """Read the texture into a preallocated (H, W, components) tensor of its dtype."""

    def view(self, texture: moderngl.Texture, out: torch.Tensor | None = None) -> torch.Tensor:
        """The texture's content as a (H, W, components) tensor (``out`` if given)."""

    def write(self, texture: moderngl.Texture, tensor: torch.Tensor) -> None:
        """Write an (H, W, C) float tensor into the texture (C ≤ its components)."""


class Transfer(Protocol):
    name: str

    def mapped(self, read=(), write=()) -> AbstractContextManager[MappedSession]:
        """A session in which the textures of ``read`` and ``write`` may be copied; GL must not touch
        them inside it."""

    def upload(self, texture: moderngl.Texture, tensor: torch.Tensor) -> None: ...

    def upload_many(self, pairs: list[tuple[moderngl.Texture, torch.Tensor]]) -> None: ...

    def download(self, texture: moderngl.Texture, device: torch.device | str = "cpu") -> torch.Tensor:
        """The texture as a (H, W, components) float32 tensor on ``device``."""

    def download_many(self, pairs: list[tuple[moderngl.Texture, torch.Tensor]]) -> None: ...

    def forget(self, texture: moderngl.Texture) -> None:
        """Drop what the transfer holds for a texture before it is released."""

    def release(self) -> None: ...
