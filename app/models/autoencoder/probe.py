"""An autoencoder's units as ``app.models.probing`` probes them.

Feature layer l is ``enc[l]`` = (a blur, with smooth resampling) conv3x3 stride 2 → activation →
(residual blocks) → conv3x3 → code activation. Besides the layers ("1" … "L") the probe reaches inside
each one: "l.conv1" is the strided convolution's output and "l.conv2" the last convolution's, both
before their activations. "1.conv1" is the only affine map of the pixels (every start of a gradient
ascent ends on the same image there).

Receptive fields follow from the kernels, strides, paddings and dilations: unit i of a layer covers
pixels [a·i + b0, a·i + b1], and a convolution (k, s, p, d) turns (a, b0, b1) into
(a·s, b0 − a·p, b1 + a·(d·(k − 1) − p)); the blur is a 3×3 convolution of its own, a residual block
reaches as far as its body, and activations leave them alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from app.models.autoencoder.blocks import Blur, Residual
from app.models.probing import EncodingProbe, ProbeLayer, ProbeTarget, ReceptiveField, probe_layer

SITES = ("conv1", "conv2")              # the first (strided) and the last convolution of enc[l]
ELEMENTWISE = (nn.GELU, nn.ReLU, nn.ELU, nn.SiLU, nn.Tanh, nn.Identity, nn.Sigmoid)
BLUR_GEOMETRY = ((3, 3), (1, 1), (1, 1), (1, 1))        # kernel, stride, padding, dilation


def _split(name: str) -> tuple[int, str | None]:
    """'2' → (2, None): the whole block; '2.conv1' → (2, 'conv1')."""
    layer, _, site = name.partition(".")
    return int(layer), site or None


def _up_to(block: nn.Sequential, site: str) -> list[nn.Module]:
    """The modules of a layer's block up to and including its convolution ``site``."""
    if site not in SITES:
        raise ValueError(f"no site {site!r} in a layer (known: {', '.join(SITES)})")
    convs = [i for i, m in enumerate(block) if isinstance(m, nn.Conv2d)]
    end = convs[0] if site == "conv1" else convs[-1]
    return list(block)[:end + 1]


def _kernels(m: nn.Module):
    """(kernel, stride, padding, dilation) of every convolution ``m`` applies in turn."""
    if isinstance(m, Blur):
        yield BLUR_GEOMETRY
    elif isinstance(m, Residual):
        for inner in m.body:
            yield from _kernels(inner)
    elif isinstance(m, nn.Conv2d) and not isinstance(m.padding, str):
        yield m.kernel_size, m.stride, m.padding, m.dilation
    elif not isinstance(m, ELEMENTWISE):
        raise TypeError(f"no receptive field rule for {type(m).__name__}")


def _geometry(modules) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(a, b0, b1) per axis (rows, columns) of a chain of convolutions and elementwise modules."""
    axes = [[1, 0, 0], [1, 0, 0]]
    for m in modules:
        for kernel, stride, padding, dilation in _kernels(m):
            for axis, (a, b0, b1) in enumerate(axes):
                k, s, p, d = kernel[axis], stride[axis], padding[axis], dilation[axis]
                axes[axis] = [a * s, b0 - a * p, b1 + a * (d * (k - 1) - p)]
    return tuple(axes[0]), tuple(axes[1])


class AutoencoderProbe(EncodingProbe):
    def _modules(self, name: str) -> list[nn.Module]:
        layer, site = _split(name)
        chain = [m for enc in self.model.enc[:layer - 1] for m in enc]
        block = self.model.enc[layer - 1]
        return chain + (list(block) if site is None else _up_to(block, site))

    def layers(self) -> list[ProbeLayer]:
        out = []
        size = self.size
        for l, width in enumerate(self.model.channels, 1):
            side = size >> l
            out += [ProbeLayer(f"{l}.conv1", width, (side, side), f"layer {l}: its first convolution (stride 2), "
                               f"before the activation", linear=l == 1),
                    ProbeLayer(f"{l}.conv2", width, (side, side), f"layer {l}: its second convolution, before "
                               f"the code activation"),
                    ProbeLayer(str(l), width, (side, side), f"layer {l}: its state (after the code activation)")]
        return out

    def responses(self, images: torch.Tensor, layer: str) -> torch.Tensor:
        probe_layer(self, layer)
        h = self._input(images)
        for m in self._modules(layer):
            h = m(h)
        return h.float()

    def receptive_field(self, target: ProbeTarget) -> ReceptiveField:
        (ar, r0, r1), (ac, c0, c1) = _geometry(self._modules(target.layer))
        row, column = target.position
        return ReceptiveField(ar * row + r0, ac * column + c0, ar * row + r1 + 1, ac * column + c1 + 1)

    def compact(self, target: ProbeTarget) -> tuple[int, ProbeTarget, tuple[int, int]]:
        """Where the field lies inside the frame: the smallest frame whose unit of the same name holds the
        same field fully inside it (no padding reaches either), a multiple of the layer's stride."""
        field = self.receptive_field(target)
        if not field.inside(self.size):
            return self.size, target, (0, 0)
        (a, b0, b1), _ = _geometry(self._modules(target.layer))
        i = max(0, math.ceil(-b0 / a))
        side = a * i + b1 + 1
        side = math.ceil(side / a) * a
        row, column = target.position
        offset = (a * (row - i), a * (column - i))
        return side, ProbeTarget(target.layer, target.unit, (i, i)), offset
