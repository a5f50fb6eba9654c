"""The training losses of a dreaming autoencoder.

- image: the whole hourglass (encode to the top, decode back) reconstructs the image;
- layers: each layer's decoder reconstructs the layer below (layer 1's decoder the image), so every
  top-down drive the loop mixes in is an estimate of that layer's state;
- recurrent (Guttenberg et al. 2016, through the app's own loop): start from the image's codes plus
  latent noise, run N steps of full dream with latent noise at every step, and ask every prediction
  to be the image; a small penalty keeps the latent codes from growing;
- dream: dreams from the pool (``DreamBuffer``) run a few more loop steps and their frames must have
  the patch statistics of photo crops at every scale (``patches.patch_distance``);
- follow: the loop watching a still image (dream 0) from a fresh start must settle on it — its
  predictions over the second half of N steps are asked to be the image, so the live view of a
  still scene is steady instead of flickering.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from app.models.autoencoder.model import ConvAutoencoder
from app.loop import mirror as loop
from app.train.distributed import ALONE, Team
from app.train.dreambuffer import DreamBuffer
from app.train.patches import patch_distance


def latent_norm(states: list[torch.Tensor]) -> torch.Tensor:
    return sum(s.pow(2).mean() for s in states) / len(states)


def reconstruction(model: ConvAutoencoder, images: torch.Tensor) -> tuple[dict[str, torch.Tensor], list]:
    """{"image", "layers"} and the feed-forward codes."""
    codes = model.encode(images)
    image = F.mse_loss(model.decode(codes[-1]), images)
    below = [images, *(c.detach() for c in codes[:-1])]
    layers = sum(F.mse_loss(dec(c), b) for dec, c, b in zip(model.dec, codes, below)) / len(codes)
    return {"image": image, "layers": layers}, codes


def recurrent(model: ConvAutoencoder, rule: loop.Rule, images: torch.Tensor, codes: list[torch.Tensor],
              passes: int, noise: float, team: Team = ALONE) -> dict[str, torch.Tensor]:
    """{"recurrent", "latent"}: mean error of N dreamed predictions and the codes' mean square."""
    prediction = images
    states = [c + noise * team.randn_like(c) for c in codes]
    error = images.new_zeros(())
    for _ in range(passes):
        prediction, states = loop.step(model, rule, prediction, states, latent_noise=noise, noise=team.randn_like)
        error = error + F.mse_loss(prediction, images)
    return {"recurrent": error / passes, "latent": latent_norm(states)}


def dream(model: ConvAutoencoder, rule: loop.Rule, pool: DreamBuffer, photos: torch.Tensor, count: int,
          steps: int, per_image: bool = False, team: Team = ALONE) -> dict[str, torch.Tensor]:
    """{"dream", "dream_latent"}: patch distance of dreams to ``photos`` after ``steps`` more steps
    of the plain loop (``count`` dreams in all the team's processes)."""
    index, prediction, states = pool.take(count)
    for _ in range(steps):
        prediction, states = loop.step(model, rule, prediction, states)
    pool.put(index, prediction, states, steps)
    with torch.autocast(prediction.device.type, enabled=False):
        distance = patch_distance(prediction, photos, per_image, team)
    return {"dream": distance, "dream_latent": latent_norm(states)}


def follow(model: ConvAutoencoder, rule: loop.Rule, images: torch.Tensor, steps: int,
           team: Team = ALONE) -> dict[str, torch.Tensor]:
    """{"follow"}: mean error of the predictions of the second half of ``steps`` loop steps on a still
    input, started from the engine's reset."""
    prediction, states = team.noise_start(model, images.shape[0], images.shape[-1], images.device)
    error, counted = images.new_zeros(()), 0
    for t in range(steps):
        prediction, states = loop.step(model, rule, prediction, states, source=images, dream=0.0,
                                       noise=team.randn_like)
        if t >= steps // 2:
            error = error + F.mse_loss(prediction, images)
            counted += 1
    return {"follow": error / counted}
