"""Representational inertia (seed 001: Zaharia, Peters, Cunningham and Kriegeskorte, 2019), reproduced.

A β-VAE reads 10-frame sequences of a white circle moving in a straight line over a static
Gaussian blob whose centre varies per sequence. Its code carries forward with inertia:

    μ_t = (1−γ)·μ_enc,t + γ·μ̂_t,   μ̂_{t+1} = 2·μ_t − μ_{t−1},   μ_0 = μ_enc,0,  μ̂_1 = μ_0,

and the frame decoded from μ_t is trained to be the next frame x_{t+1} (from t = 1 on: at t = 0
no model can know the motion). γ = 0 predicts from the current frame alone, γ = 1 reads the
first frame and extrapolates its code — which, starting at rest, stays the first frame's code: a
static dream that no later input can change. The experiment trains one model per γ, all from one
β-VAE pretrained to reconstruct single frames (the CPU budget's doing: the small circle takes
thousands of steps to appear), and measures next-frame error, how much the output depends on the
input (the input sequence is swapped for another after its first two frames) and what each latent
encodes (latent sweeps).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

SWAP_AT = 2     # the swapped sequence replaces the original from this frame on


@dataclass
class InertiaConfig:
    size: int = 32
    frames: int = 10
    circle_radius: float = 0.1      # fraction of the size
    blob_sigma: float = 0.2         # fraction of the size
    blob_peak: float = 0.8
    min_travel: float = 0.3         # least distance the circle moves, in units of its range of positions
    latents: int = 4
    beta: float = 0.25              # weight of the KL term against the summed squared pixel error
    gammas: tuple[float, ...] = (0.0, 0.5, 1.0)
    pretrain_steps: int = 5000      # shared start: a β-VAE reconstructing single frames
    pretrain_batch: int = 12        # sequences, every frame of which is reconstructed
    steps: int = 600                # training steps per γ, each on a fresh batch of sequences
    batch: int = 16                 # sequences
    lr: float = 3e-3
    test_sequences: int = 256
    sweep_values: int = 9
    seed: int = 0

    @classmethod
    def quick(cls, seed: int = 0) -> "InertiaConfig":
        return cls(pretrain_steps=40, pretrain_batch=4, steps=15, batch=4, test_sequences=32, sweep_values=5,
                   seed=seed)


@dataclass
class Sequences:
    frames: torch.Tensor         # (n, T, 1, S, S) in [0, 1]
    circle: torch.Tensor         # (n, T, 2) circle centres in pixels (x, y)
    blob: torch.Tensor           # (n, 2) blob centres in pixels (x, y)


def circle_over_blob(n: int, cfg: InertiaConfig, generator: torch.Generator) -> Sequences:
    """Sequences of a white circle moving linearly over a static Gaussian blob of peak ``blob_peak``.

    Circle positions lie in [1/8, 7/8] of the frame, so it never leaves it; its edge is antialiased."""
    start = torch.rand(n, 2, generator=generator)
    end = torch.rand(n, 2, generator=generator)
    short = (end - start).norm(dim=1) < cfg.min_travel
    while short.any():
        end[short] = torch.rand(int(short.sum()), 2, generator=generator)
        short = (end - start).norm(dim=1) < cfg.min_travel
    t = torch.linspace(0, 1, cfg.frames)[None, :, None]
    circle = (0.125 + 0.75 * (start[:, None] + (end - start)[:, None] * t)) * cfg.size
    blob = torch.rand(n, 2, generator=generator) * cfg.size
    coords = torch.arange(cfg.size, dtype=torch.float32) + 0.5
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    blob_d2 = (gx - blob[:, 0, None, None]) ** 2 + (gy - blob[:, 1, None, None]) ** 2
    background = cfg.blob_peak * torch.exp(-blob_d2 / (2 * (cfg.blob_sigma * cfg.size) ** 2))
    distance = torch.hypot(gx - circle[..., 0, None, None], gy - circle[..., 1, None, None])
    disc = (cfg.circle_radius * cfg.size - distance + 0.5).clamp(0, 1)
    frames = (disc + background[:, None]).clamp(0, 1).unsqueeze(2)
    return Sequences(frames, circle, blob)


class InertiaVAE(nn.Module):
    """Four 3×3 stride-2 convs (32, 32, 64, 64) + ReLU → 256 → μ, log σ²; the decoder mirrors them
    with ELU and a sigmoid output."""

    def __init__(self, latents: int = 4, size: int = 32):
        super().__init__()
        self.grid = size // 16
        flat = 64 * self.grid ** 2
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(), nn.Flatten())
        self.mu = nn.Linear(flat, latents)
        self.logvar = nn.Linear(flat, latents)
        self.expand = nn.Linear(latents, flat)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 3, 2, 1, 1), nn.ELU(), nn.ConvTranspose2d(64, 32, 3, 2, 1, 1), nn.ELU(),
            nn.ConvTranspose2d(32, 32, 3, 2, 1, 1), nn.ELU(), nn.ConvTranspose2d(32, 1, 3, 2, 1, 1), nn.Sigmoid())

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 1, S, S) → μ_enc and log σ², each (B, T, latents)."""
        b, t = frames.shape[:2]
        h = self.encoder(frames.flatten(0, 1))
        return self.mu(h).unflatten(0, (b, t)), self.logvar(h).unflatten(0, (b, t))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(..., latents) → (..., 1, S, S)."""
        lead = z.shape[:-1]
        h = self.expand(z.reshape(-1, z.shape[-1])).view(-1, 64, self.grid, self.grid)
        return self.decoder(h).view(*lead, 1, self.grid * 16, self.grid * 16)


def inertia(mu_enc: torch.Tensor, gamma: float) -> torch.Tensor:
    """The carried code μ_t of every step from the encoded μ_enc,t, both (B, T, latents)."""
    mus = [mu_enc[:, 0]]
    predicted = mus[0]
    for t in range(1, mu_enc.shape[1]):
        mus.append((1 - gamma) * mu_enc[:, t] + gamma * predicted)
        predicted = 2 * mus[-1] - mus[-2]
    return torch.stack(mus, dim=1)


def predict(model: InertiaVAE, frames: torch.Tensor, gamma: float) -> torch.Tensor:
    """Next-frame predictions from the carried means: output t (of frames 0…T−2) is the guess of frame t+1."""
    mu_enc, _ = model.encode(frames[:, :-1])
    return model.decode(inertia(mu_enc, gamma))


def loss(model: InertiaVAE, frames: torch.Tensor, gamma: float, beta: float) -> torch.Tensor:
    mu_enc, logvar = model.encode(frames[:, :-1])
    mu = inertia(mu_enc, gamma)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    recon = F.mse_loss(model.decode(z[:, 1:]), frames[:, 2:], reduction="sum") / len(frames)
    kl = 0.5 * (mu[:, 1:].pow(2) + logvar[:, 1:].exp() - 1 - logvar[:, 1:]).sum() / len(frames)
    return recon + beta * kl


def reconstruction_loss(model: InertiaVAE, frames: torch.Tensor, beta: float) -> torch.Tensor:
    """The β-VAE loss of reconstructing each frame itself."""
    mu, logvar = model.encode(frames)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    recon = F.mse_loss(model.decode(z), frames, reduction="sum") / len(frames)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / len(frames)
    return recon + beta * kl


def optimise(model: InertiaVAE, loss_of, steps: int, lr: float, desc: str, progress: bool) -> InertiaVAE:
    """Adam with a cosine learning-rate decay; ``loss_of()`` draws its own fresh batch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for step in bar:
        value = loss_of()
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{value.item():.1f}")
    return model.eval()


def pretrain(cfg: InertiaConfig, generator: torch.Generator, progress: bool) -> InertiaVAE:
    """The shared start of every γ: a β-VAE that reconstructs single frames of the sequences."""
    model = InertiaVAE(cfg.latents, cfg.size)

    def batch_loss():
        frames = circle_over_blob(cfg.pretrain_batch, cfg, generator).frames.flatten(0, 1)[:, None]
        return reconstruction_loss(model, frames, cfg.beta)
    return optimise(model, batch_loss, cfg.pretrain_steps, cfg.lr, "pretrain", progress)


def train(start: InertiaVAE, cfg: InertiaConfig, gamma: float, generator: torch.Generator,
          progress: bool) -> InertiaVAE:
    """Trains a copy of ``start`` to predict the next frame with inertia γ."""
    model = copy.deepcopy(start).train()
    return optimise(model, lambda: loss(model, circle_over_blob(cfg.batch, cfg, generator).frames, gamma, cfg.beta),
                    cfg.steps, cfg.lr, f"γ = {gamma:g}", progress)


def relative_change(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ over all elements."""
    return ((a - b).norm() / b.norm()).item()


@dataclass
class GammaScore:
    gamma: float
    next_frame_mse: float          # per pixel, predictions of frames 2…T−1
    per_frame_mse: list[float]     # the same by predicted frame
    swap_change: float             # ‖out(swapped) − out(original)‖ / ‖out(original)‖ after the swap
    swap_follow: float             # ‖out(swapped) − out(other)‖ / ‖out(other)‖: 0 if only the new input counts
    swapped_mse: float             # next-frame error against the swapped sequence's own frames after the swap


@dataclass
class InertiaResult:
    config: InertiaConfig
    scores: list[GammaScore]
    reconstruction_mse: float      # the shared start's error at reconstructing the test frames
    copy_mse: float                # error of predicting every frame as the one before it
    mean_frame_mse: float          # error of predicting every frame as the test set's mean frame
    seconds: dict[str, float] = field(default_factory=dict)

    def markdown(self) -> str:
        lines = ["| γ | next-frame MSE ↓ | output change when the input is swapped after frame 2 | "
                 "distance to the output on the new sequence | next-frame MSE on the swapped sequence |",
                 "|---:|---:|---:|---:|---:|"]
        for s in self.scores:
            lines.append(f"| {s.gamma:g} | {s.next_frame_mse:.5f} | {s.swap_change:.2%} | {s.swap_follow:.2%} | "
                         f"{s.swapped_mse:.5f} |")
        lines += ["", f"Baselines (next-frame MSE per pixel): repeat the current frame {self.copy_mse:.5f}; "
                      f"the mean frame {self.mean_frame_mse:.5f}. The pretrained β-VAE reconstructs the test "
                      f"frames with MSE {self.reconstruction_mse:.5f}."]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "scores": [asdict(s) for s in self.scores],
                "reconstruction_mse": self.reconstruction_mse, "copy_mse": self.copy_mse,
                "mean_frame_mse": self.mean_frame_mse, "seconds": self.seconds}


@torch.no_grad()
def evaluate(model: InertiaVAE, gamma: float, test: torch.Tensor, other: torch.Tensor) -> GammaScore:
    swapped = torch.cat([test[:, :SWAP_AT], other[:, SWAP_AT:]], dim=1)
    out, out_other, out_swapped = (predict(model, x, gamma) for x in (test, other, swapped))
    error = (out[:, 1:] - test[:, 2:]).pow(2)
    after = slice(SWAP_AT, None)   # outputs from frame SWAP_AT on, the guesses of frames SWAP_AT+1…
    return GammaScore(
        gamma=gamma, next_frame_mse=error.mean().item(),
        per_frame_mse=error.mean(dim=(0, 2, 3, 4)).tolist(),
        swap_change=relative_change(out_swapped[:, after], out[:, after]),
        swap_follow=relative_change(out_swapped[:, after], out_other[:, after]),
        swapped_mse=(out_swapped[:, after] - swapped[:, SWAP_AT + 1:]).pow(2).mean().item())


@torch.no_grad()
def latent_sweep(model: InertiaVAE, test: torch.Tensor, values: int) -> torch.Tensor:
    """(latents, values, S, S): each latent swept from its 2nd to its 98th percentile over the test
    frames' codes, the others held at their medians."""
    mu, _ = model.encode(test)
    mu = mu.flatten(0, 1)
    low, mid, high = (mu.quantile(q, dim=0) for q in (0.02, 0.5, 0.98))
    codes = mid.repeat(mu.shape[1], values, 1)
    for i in range(mu.shape[1]):
        codes[i, :, i] = torch.linspace(low[i].item(), high[i].item(), values)
    return model.decode(codes)[:, :, 0]


def run(cfg: InertiaConfig, out: Path, progress: bool = True) -> InertiaResult:
    """Pretrains the shared start, trains one model per γ from it, measures them and writes the
    figures into ``out``."""
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    test = circle_over_blob(cfg.test_sequences, cfg, generator).frames
    other = test.roll(1, dims=0)
    start = time.perf_counter()
    pretrained = pretrain(cfg, generator, progress)
    seconds = {"pretrain": time.perf_counter() - start}
    models, scores = {}, []
    for gamma in cfg.gammas:
        start = time.perf_counter()
        models[gamma] = train(pretrained, cfg, gamma, generator, progress)
        seconds[f"train γ = {gamma:g}"] = time.perf_counter() - start
        scores.append(evaluate(models[gamma], gamma, test, other))
    with torch.no_grad():
        mu, _ = pretrained.encode(test)
        reconstruction_mse = (pretrained.decode(mu) - test).pow(2).mean().item()
    result = InertiaResult(
        cfg, scores, reconstruction_mse=reconstruction_mse, copy_mse=(test[:, 1:-1] - test[:, 2:]).pow(2).mean().item(),
        mean_frame_mse=(test[:, 2:] - test.mean(dim=(0, 1))).pow(2).mean().item(), seconds=seconds)
    sweeps = {gamma: latent_sweep(model, test, cfg.sweep_values).numpy() for gamma, model in models.items()}
    with torch.no_grad():
        swapped = torch.cat([test[:1, :SWAP_AT], other[:1, SWAP_AT:]], dim=1)
        shown = {gamma: (predict(model, test[:1], gamma)[0, :, 0].numpy(),
                         predict(model, swapped, gamma)[0, :, 0].numpy()) for gamma, model in models.items()}
    prediction_figure(test[0, :, 0].numpy(), swapped[0, :, 0].numpy(), shown, out / "inertia_predictions.png")
    sweep_figure(sweeps, out / "inertia_sweeps.png")
    error_figure(result, out / "inertia_errors.png")
    return result


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def prediction_figure(original: np.ndarray, swapped: np.ndarray, outputs: dict[float, tuple[np.ndarray, np.ndarray]],
                      path: Path) -> None:
    """Rows: a sequence, the same with another sequence from frame 2 on, and each γ's predictions
    on both, every prediction in the column of the frame it predicts."""
    plt = _pyplot()
    frames = original.shape[0]
    rows = [("input", original), (f"input swapped\nfrom frame {SWAP_AT}", swapped)]
    for gamma, (on_original, on_swapped) in outputs.items():
        rows += [(f"γ = {gamma:g}\non the input", np.concatenate([np.full_like(original[:1], np.nan), on_original])),
                 (f"γ = {gamma:g}\non the swapped", np.concatenate([np.full_like(original[:1], np.nan), on_swapped]))]
    fig, axes = plt.subplots(len(rows), frames, figsize=(1.1 * frames + 1.2, 1.15 * len(rows)))
    for r, (label, images) in enumerate(rows):
        for t in range(frames):
            ax = axes[r, t]
            ax.imshow(images[t], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if t == SWAP_AT and r == 1:
                for spine in ax.spines.values():
                    spine.set(color="C3", linewidth=2)
            if r == 0:
                ax.set_title(f"frame {t}", fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_figure(sweeps: dict[float, np.ndarray], path: Path) -> None:
    """One block per γ: a row per latent, swept from its 2nd to its 98th percentile left to right."""
    plt = _pyplot()
    latents, values = next(iter(sweeps.values())).shape[:2]
    fig = plt.figure(figsize=(0.8 * values + 0.6, (0.8 * latents + 0.4) * len(sweeps)))
    for block, (gamma, sweep) in zip(fig.subfigures(len(sweeps), 1), sweeps.items()):
        block.suptitle(f"γ = {gamma:g}: each latent from its 2nd (left) to its 98th percentile (right)", fontsize=9)
        axes = block.subplots(latents, values, gridspec_kw={"wspace": 0.05, "hspace": 0.05})
        for i in range(latents):
            for v in range(values):
                axes[i, v].imshow(sweep[i, v], cmap="gray", vmin=0, vmax=1)
                axes[i, v].set_xticks([])
                axes[i, v].set_yticks([])
            axes[i, 0].set_ylabel(f"z{i + 1}", fontsize=8, rotation=0, ha="right", va="center")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def error_figure(result: InertiaResult, path: Path) -> None:
    """Next-frame error by predicted frame per γ, with the repeat-the-frame baseline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for s in result.scores:
        ax.plot(range(2, 2 + len(s.per_frame_mse)), s.per_frame_mse, marker="o", label=f"γ = {s.gamma:g}")
    ax.axhline(result.copy_mse, color="gray", ls="--", label="repeat the current frame")
    ax.axhline(result.mean_frame_mse, color="gray", ls=":", label="the mean frame")
    ax.set(xlabel="predicted frame", ylabel="MSE per pixel", yscale="log", title="next-frame error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
