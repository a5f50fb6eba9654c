"""How far the local structure of one batch of images is from another's, at every scale.

Each image is split into a Laplacian pyramid; at every level, random 5×5 patches of both batches are
projected on random directions and the sorted projections compared (a sliced Wasserstein distance,
as in Heitz et al. 2021 and the SWD of Karras et al. 2018). Each level is divided by the spread of the
reference's projections, so fine detail counts as much as colour and layout. Dreams scored against
photo crops this way cannot pass as flat gray, as noise, or as saturated blobs. Pooled over the
batch, the dreams together must look like the photos together; per image, every dream on its own
must look like the photos together (so none can settle as, say, a dark star field while others
carry the colour).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from app.train.distributed import ALONE, Team

PATCH = 5
PATCHES_PER_IMAGE = 256
DIRECTIONS = 64


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    bands, current = [], images
    for _ in range(levels - 1):
        coarser = F.avg_pool2d(current, 2)
        bands.append(current - F.interpolate(coarser, scale_factor=2, mode="bilinear", align_corners=False))
        current = coarser
    return [*bands, current]


def _random_patches(images: torch.Tensor, count: int, team: Team) -> torch.Tensor:
    """(B, count, C·P·P): ``count`` random patches of each image."""
    columns = F.unfold(images, PATCH)                      # (B, C·P·P, L)
    index = team.randint(columns.shape[2], (columns.shape[0], 1, count), images.device)
    return columns.gather(2, index.expand(-1, columns.shape[1], -1)).transpose(1, 2)


def levels_for(size: int) -> int:
    """Pyramid levels down to about 8 pixels (at least one)."""
    return max(1, (size // 8).bit_length())


def patch_distance(images: torch.Tensor, reference: torch.Tensor, per_image: bool = False,
                   team: Team = ALONE) -> torch.Tensor:
    """Mean over pyramid levels of the normalised sliced Wasserstein distance between the 5×5
    patches of ``images`` and of ``reference`` (both (B, 3, S, S), same S): the batches' patches
    pooled, or (``per_image``) each image's patches against the reference's pooled. Split over a
    team, each process holds its rows of both batches, and the pooled patches are all of theirs."""
    levels = levels_for(images.shape[-1])
    images, reference = images.float(), reference.float()
    total = images.new_zeros(())
    for ours, theirs in zip(laplacian_pyramid(images, levels), laplacian_pyramid(reference, levels)):
        a = _random_patches(ours, PATCHES_PER_IMAGE, team)
        b = team.gather(_random_patches(theirs, PATCHES_PER_IMAGE, team)).reshape(1, -1, a.shape[2])
        if not per_image:
            a = team.gather(a, grad=True).reshape(1, -1, a.shape[2])
        directions = F.normalize(torch.randn(a.shape[2], DIRECTIONS, device=a.device), dim=0)
        pa = (a @ directions).sort(dim=1).values
        pb = (b @ directions).sort(dim=1).values
        if pb.shape[1] != pa.shape[1]:  # the reference's quantiles at the images' resolution
            pb = pb[:, torch.linspace(0, pb.shape[1] - 1, pa.shape[1], device=a.device).round().long()]
        total = total + (pa - pb).pow(2).mean() / (pb.var() + 1e-6)
    return total / levels
