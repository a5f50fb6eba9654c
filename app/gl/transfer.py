"""Moving tensors to textures and back. Every tensor↔texture copy in the app goes through here,
so a zero-copy path can replace the host copies in one place."""

from __future__ import annotations

import moderngl
import numpy as np
import torch


class HostTransfer:
    """Copies through host memory: works with any torch device and any GL driver."""

    name = "host"

    def upload(self, texture: moderngl.Texture, tensor: torch.Tensor) -> None:
        """Write a (H, W, components) float tensor into a float texture of that size."""
        array = tensor.detach().to("cpu", torch.float32).contiguous().numpy()
        texture.write(array)

    def download(self, texture: moderngl.Texture, device: torch.device | str = "cpu") -> torch.Tensor:
        """Read a float texture as a (H, W, components) float32 tensor on ``device``."""
        width, height = texture.size
        array = np.frombuffer(texture.read(), dtype=np.float32).reshape(height, width, texture.components)
        return torch.from_numpy(array.copy()).to(device)
