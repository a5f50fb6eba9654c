"""The building blocks of the autoencoder that torch does not have: a convolution with edges for
the smallest maps, a fixed blur, a residual block."""

from __future__ import annotations

import torch
from torch import nn


class EdgeConv(nn.Conv2d):
    """A 3×3 convolution whose reflected edges fall back to repeated ones on a map one cell wide,
    which has nothing to reflect (a model's top layer at its smallest size)."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode == "reflect" and min(x.shape[-2:]) <= 1:
            x = nn.functional.pad(x, self._reversed_padding_repeated_twice, mode="replicate")
            return nn.functional.conv2d(x, weight, bias, self.stride, 0, self.dilation, self.groups)
        return super()._conv_forward(x, weight, bias)


class Blur(nn.Module):
    """A fixed binomial [1, 2, 1]² low-pass, channel by channel, with reflected edges."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16.0
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
        return nn.functional.conv2d(x, self.kernel.to(x.dtype), groups=x.shape[1])


class Residual(nn.Module):
    """x + body(x)."""

    def __init__(self, *body: nn.Module):
        super().__init__()
        self.body = nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
