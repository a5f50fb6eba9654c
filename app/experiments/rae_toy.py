"""The recurrent autoencoder toy of seed 002 (Guttenberg et al., 2016), reproduced.

An autoencoder trained as a recurrent network — encode, add noise to the code, decode, encode
again, with the loss on every pass — becomes a sampler: iterate it from any code and the chain
settles into the model's own equilibrium distribution, which should be the data's. It is compared,
on a paraboloid in 3-D (x, y ~ N(0, 1), z = x² + y²) and on 8 Gaussians on a ring in 2-D, with a
plain autoencoder decoding random codes, a VAE decoding its prior, and the plain autoencoder run
as a decode→encode Markov chain (Creswell et al., 2016). All nets are d→128→6→128→d with ReLU
hidden layers and a linear code and output.

Random codes for the autoencoders are drawn from a per-dimension Gaussian fitted to the codes of
the training set (the code penalty shrinks those codes far below unit scale, so a unit Gaussian
would put every start off the data). A chain step is z ← enc(dec(z)) + σ·ε (σ = 0 for the plain
autoencoder's chain); the sample after k steps is dec(z), so step 0 is the plain decode.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from app.experiments.metrics import energy_distance, mode_coverage

METHODS = ("true", "AE", "VAE", "AE+MC", "RAE", "VAE, learned σx")
DATASETS = ("paraboloid", "ring")
CHAIN_CHECKPOINTS = (0, 1, 3, 10, 30, 100, 300, 1000, 3000)


@dataclass
class RaeToyConfig:
    samples: int = 10_000          # training set size per data set
    test_samples: int = 2_000      # fresh true samples every sampler is compared with
    hidden: int = 128
    latent: int = 6
    code_penalty: float = 0.03     # weight of the squared code norm in the autoencoders' losses
    epochs: int = 400
    batch: int = 500
    lr: float = 1e-3
    passes: int = 5                # recurrent passes per training example
    latent_noise: float = 0.1      # σ of the noise added to the code on every pass and chain step
    chain_steps: int = 1000        # sampling chain length for AE+MC and RAE
    ring_modes: int = 8
    ring_radius: float = 2.0
    ring_sigma: float = 0.1
    cover_sigmas: float = 2.0      # a sample is near a mode within this many ring σ of its centre
    cover_min_fraction: float = 0.01
    seed: int = 0

    @classmethod
    def quick(cls, seed: int = 0) -> "RaeToyConfig":
        return cls(samples=2_000, test_samples=500, epochs=8, batch=250, chain_steps=30, seed=seed)


def paraboloid(n: int, generator: torch.Generator) -> torch.Tensor:
    xy = torch.randn(n, 2, generator=generator)
    return torch.cat([xy, xy.pow(2).sum(1, keepdim=True)], dim=1)


def ring_centres(modes: int, radius: float) -> torch.Tensor:
    angle = torch.arange(modes) * (2 * math.pi / modes)
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)


def ring(n: int, generator: torch.Generator, modes: int = 8, radius: float = 2.0,
         sigma: float = 0.1) -> torch.Tensor:
    which = torch.randint(0, modes, (n,), generator=generator)
    return ring_centres(modes, radius)[which] + sigma * torch.randn(n, 2, generator=generator)


class MLPAutoencoder(nn.Module):
    """d → hidden → code → hidden → d. A variational one's encoder also gives the code's log-variance."""

    def __init__(self, dim: int, hidden: int, latent: int, variational: bool = False):
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent if variational else latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[:, :self.latent]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


def recurrent_loss(model: MLPAutoencoder, x: torch.Tensor, passes: int, noise: float,
                   penalty: float) -> torch.Tensor:
    """Mean over the passes of MSE(x, pass output) + penalty·‖code‖², with gradients through every
    pass. One pass without noise is the plain autoencoder's loss."""
    out, loss = x, 0.0
    for _ in range(passes):
        z = model.encode(out)
        out = model.decode(z + noise * torch.randn_like(z))
        loss = loss + F.mse_loss(out, x) + penalty * z.pow(2).sum(1).mean()
    return loss / passes


def vae_loss(model: MLPAutoencoder, x: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """Negative ELBO with a Gaussian decoder of standard deviation exp(log_sigma) per dimension."""
    mu, logvar = model.encoder(x).chunk(2, dim=1)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    nll = (0.5 * ((model.decode(z) - x) / log_sigma.exp()).pow(2) + log_sigma).sum(1).mean()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
    return nll + kl


def fit(params: list[nn.Parameter], loss_of, data: torch.Tensor, cfg: RaeToyConfig, desc: str,
        progress: bool) -> None:
    """Adam with a cosine learning-rate decay over shuffled minibatches of ``data``."""
    steps_per_epoch = max(1, len(data) // cfg.batch)
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs * steps_per_epoch)
    bar = tqdm(range(cfg.epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        order = torch.randperm(len(data))
        total = 0.0
        for i in range(steps_per_epoch):
            loss = loss_of(data[order[i * cfg.batch:(i + 1) * cfg.batch]])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        bar.set_postfix(loss=f"{total / steps_per_epoch:.4f}")


@torch.no_grad()
def code_gaussian(model: MLPAutoencoder, data: torch.Tensor, n: int) -> torch.Tensor:
    """n random codes from the per-dimension Gaussian of the model's codes of ``data``."""
    codes = model.encode(data)
    return codes.mean(0) + codes.std(0) * torch.randn(n, codes.shape[1])


@torch.no_grad()
def chain(model: MLPAutoencoder, z: torch.Tensor, steps: int, noise: float,
          record: tuple[int, ...] = ()) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Runs z ← enc(dec(z)) + noise·ε for ``steps`` steps; returns dec(z) at the end and at each
    step count in ``record``."""
    recorded = {0: model.decode(z)} if 0 in record else {}
    for step in range(1, steps + 1):
        z = model.encode(model.decode(z))
        z = z + noise * torch.randn_like(z)
        if step in record:
            recorded[step] = model.decode(z)
    return model.decode(z), recorded


@dataclass
class SamplerScore:
    dataset: str
    method: str
    energy: float                      # energy distance to the fresh true samples
    recon_mse: float | None = None     # one-pass reconstruction error on those samples
    modes_covered: int | None = None
    near_modes: float | None = None    # fraction of samples within the cover radius of some mode
    mode_shares: list[float] | None = None   # fraction of samples within the cover radius of each mode


def _distance(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "diverged"


@dataclass
class RaeToyResult:
    config: RaeToyConfig
    scores: list[SamplerScore]
    chains: dict[str, dict[str, dict[int, float]]]   # data set → sampler → chain step → energy distance
    train_seconds: dict[str, float] = field(default_factory=dict)

    def score(self, dataset: str, method: str) -> SamplerScore:
        return next(s for s in self.scores if s.dataset == dataset and s.method == method)

    def markdown(self) -> str:
        modes = self.config.ring_modes
        lines = ["| data set | sampler | energy distance ↓ | modes covered | samples near a mode "
                 "| reconstruction MSE |", "|---|---|---:|---:|---:|---:|"]
        for s in self.scores:
            covered = "" if s.modes_covered is None else f"{s.modes_covered}/{modes}"
            near = "" if s.near_modes is None else f"{s.near_modes:.1%}"
            recon = "" if s.recon_mse is None else f"{s.recon_mse:.4f}"
            lines.append(f"| {s.dataset} | {s.method} | {_distance(s.energy)} | {covered} | {near} | {recon} |")
        lines += ["", "Energy distance to the true samples along the sampling chains "
                      "(step 0: decoded random codes):", ""]
        steps = sorted({k for per in self.chains.values() for curve in per.values() for k in curve})
        lines.append("| data set | sampler | " + " | ".join(f"step {k}" for k in steps) + " |")
        lines.append("|---|---|" + "---:|" * len(steps))
        for dataset, per in self.chains.items():
            for method, curve in per.items():
                lines.append(f"| {dataset} | {method} | " + " | ".join(_distance(curve[k]) for k in steps) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "scores": [asdict(s) for s in self.scores],
                "chains": self.chains, "train_seconds": self.train_seconds}


def _sample(name: str, n: int, generator: torch.Generator, cfg: RaeToyConfig) -> torch.Tensor:
    if name == "paraboloid":
        return paraboloid(n, generator)
    return ring(n, generator, cfg.ring_modes, cfg.ring_radius, cfg.ring_sigma)


def _run_dataset(name: str, cfg: RaeToyConfig, progress: bool):
    generator = torch.Generator().manual_seed(cfg.seed)
    data = _sample(name, cfg.samples, generator, cfg)
    test = _sample(name, cfg.test_samples, generator, cfg)
    dim = data.shape[1]
    seconds = {}

    def train(key: str, model: MLPAutoencoder, loss_of, extra: tuple = ()):
        start = time.perf_counter()
        fit(list(model.parameters()) + list(extra), loss_of, data, cfg, f"{name} {key}", progress)
        seconds[f"{name} {key}"] = time.perf_counter() - start

    ae = MLPAutoencoder(dim, cfg.hidden, cfg.latent)
    train("AE", ae, lambda x: recurrent_loss(ae, x, 1, 0.0, cfg.code_penalty))
    rae = MLPAutoencoder(dim, cfg.hidden, cfg.latent)
    train("RAE", rae, lambda x: recurrent_loss(rae, x, cfg.passes, cfg.latent_noise, cfg.code_penalty))
    vae = MLPAutoencoder(dim, cfg.hidden, cfg.latent, variational=True)
    unit_sigma = torch.zeros(dim)
    train("VAE", vae, lambda x: vae_loss(vae, x, unit_sigma))
    learned = MLPAutoencoder(dim, cfg.hidden, cfg.latent, variational=True)
    log_sigma = nn.Parameter(torch.zeros(dim))
    train("VAE, learned σx", learned, lambda x: vae_loss(learned, x, log_sigma), (log_sigma,))

    record = tuple(k for k in CHAIN_CHECKPOINTS if k < cfg.chain_steps) + (cfg.chain_steps,)
    n = cfg.test_samples
    with torch.no_grad():
        start_ae, start_rae = code_gaussian(ae, data, n), code_gaussian(rae, data, n)
        mc, mc_curve = chain(ae, start_ae, cfg.chain_steps, 0.0, record)
        rs, rae_curve = chain(rae, start_rae, cfg.chain_steps, cfg.latent_noise, record)
        samples = {"true": _sample(name, n, generator, cfg), "AE": mc_curve[0],
                   "VAE": vae.decode(torch.randn(n, cfg.latent)), "AE+MC": mc, "RAE": rs,
                   "VAE, learned σx": learned.decode(torch.randn(n, cfg.latent))}
        recon = {"AE": ae, "AE+MC": ae, "RAE": rae, "VAE": vae, "VAE, learned σx": learned}
    centres = ring_centres(cfg.ring_modes, cfg.ring_radius)
    scores = []
    for method in METHODS:
        x = samples[method]
        score = SamplerScore(name, method, energy_distance(x, test))
        if method in recon:
            with torch.no_grad():
                score.recon_mse = F.mse_loss(recon[method].decode(recon[method].encode(test)), test).item()
        if name == "ring":
            cover = mode_coverage(x, centres, cfg.cover_sigmas * cfg.ring_sigma, cfg.cover_min_fraction)
            score.modes_covered, score.near_modes, score.mode_shares = cover.covered, cover.near_any, cover.per_mode
        scores.append(score)
    curves = {"AE+MC": {k: energy_distance(v, test) for k, v in mc_curve.items()},
              "RAE": {k: energy_distance(v, test) for k, v in rae_curve.items()}}
    return scores, curves, {m: s.numpy() for m, s in samples.items()}, seconds


def run(cfg: RaeToyConfig, out: Path, progress: bool = True) -> RaeToyResult:
    """Trains and samples every model on both data sets; writes the figures into ``out``."""
    torch.manual_seed(cfg.seed)
    scores, chains, clouds, seconds = [], {}, {}, {}
    for name in DATASETS:
        s, curves, clouds[name], t = _run_dataset(name, cfg, progress)
        scores += s
        chains[name] = curves
        seconds.update(t)
    result = RaeToyResult(cfg, scores, chains, seconds)
    cloud_figure(clouds, result, out / "rae_toy.png")
    chain_figure(result, out / "rae_toy_chains.png")
    return result


def _limits(true: np.ndarray, axis: int, margin: float = 0.15) -> tuple[float, float]:
    lo, hi = np.percentile(true[:, axis], [0.5, 99.5])
    pad = margin * (hi - lo)
    return lo - pad, hi + pad


def cloud_figure(clouds: dict[str, dict[str, np.ndarray]], result: RaeToyResult, path: Path) -> None:
    """Rows: the paraboloid in 3-D, the same samples as height against radius (the true ones lie
    on z = r²), the ring; columns: the true samples and each sampler's."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ("paraboloid", "paraboloid, z against r", "ring")
    fig = plt.figure(figsize=(3.0 * len(METHODS), 3.0 * len(rows)))
    for r, row in enumerate(rows):
        dataset = row.split(",")[0]
        true = clouds[dataset]["true"]
        for c, method in enumerate(METHODS):
            x = clouds[dataset][method]
            score = result.score(dataset, method)
            index = r * len(METHODS) + c + 1
            if r == 0:
                ax = fig.add_subplot(len(rows), len(METHODS), index, projection="3d")
                ax.scatter(x[:, 0], x[:, 1], x[:, 2], s=1, alpha=0.4, color="C0")
                ax.set(xlim=_limits(true, 0), ylim=_limits(true, 1), zlim=_limits(true, 2))
                ax.view_init(elev=20, azim=-60)
                ax.tick_params(labelsize=6)
            else:
                ax = fig.add_subplot(len(rows), len(METHODS), index)
                if dataset == "paraboloid":
                    radius = np.hypot(x[:, 0], x[:, 1])
                    ax.scatter(radius, x[:, 2], s=1, alpha=0.3, color="C0")
                    grid = np.linspace(0, np.hypot(*_limits(true, 0)), 100)
                    ax.plot(grid, grid ** 2, color="C3", lw=0.8, alpha=0.7)
                    ax.set(xlim=(0, np.hypot(*_limits(true, 0)) / 1.2), ylim=_limits(true, 2),
                           xlabel="r = √(x² + y²)", ylabel="z" if c == 0 else None)
                else:
                    ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, color="C0")
                    ax.set(xlim=_limits(true, 0), ylim=_limits(true, 1), aspect="equal")
                ax.tick_params(labelsize=6)
            title = f"{method}\nD² = {_distance(score.energy)}" if r != 1 else ""
            if score.modes_covered is not None:
                title += f", {score.modes_covered}/{result.config.ring_modes} modes"
            ax.set_title(title, fontsize=9)
        fig.text(0.005, 1 - (r + 0.5) / len(rows), row, rotation=90, va="center", fontsize=10)
    fig.tight_layout(rect=(0.015, 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chain_figure(result: RaeToyResult, path: Path) -> None:
    """Energy distance to the true samples against chain step, with the one-shot samplers as lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DATASETS), figsize=(5.5 * len(DATASETS), 3.8))
    for ax, dataset in zip(axes, DATASETS):
        for method, curve in result.chains[dataset].items():
            steps = sorted(curve)
            ax.plot(steps, [curve[k] for k in steps], marker="o", label=method)
        for method, style in (("VAE", "--"), ("VAE, learned σx", "-."), ("true", ":")):
            ax.axhline(result.score(dataset, method).energy, color="gray", ls=style,
                       label=method if method != "true" else "true vs true (noise floor)")
        ax.set(xscale="symlog", yscale="log", xlim=(0, result.config.chain_steps), xlabel="chain step",
               ylabel="energy distance D²", title=dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
