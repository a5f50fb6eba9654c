"""The training loop of ``hypnagogia train ae``: losses, progress, snapshots, resume and export.

Under torchrun the step runs in DDP over a ``Team`` of processes (``app.train.distributed``): each holds
its rows of the global batch (``--batch`` crops in all), and the losses are means over their rows, so
DDP's mean of the processes' gradients is the gradient of one process holding the whole batch. Only
rank 0 logs, shows progress and writes snapshots; the state records the global batch, so a run resumes
on another number of processes.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from app.errors import UserError
from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
from app.models.checkpoint import LoadedModel, architecture_of
from app.loop import mirror as loop
from app.train import figures, losses
from app.train.data import VALIDATION_SIZE, Crops, FrameSet, validation_images, validation_preview
from app.train.distributed import ALONE, Team, atomic_write, save_checkpoint
from app.train.dreambuffer import DreamBuffer
from app.train.validation import psnr

LOG_EVERY = 25
WARMUP_STEPS = 100


@dataclass
class TrainConfig:
    name: str = "ae-custom"
    widths: tuple[int, ...] = (16, 32, 64, 128)
    activation: str = "gelu"
    resample: str = "stride"
    padding: str = "zeros"
    blocks: int = 0
    steps: int = 2000
    minutes: float | None = None   # stop after this long instead, the schedule following time
    size: int = 128
    batch: int = 16
    lr: float = 2e-3
    recurrent_passes: int = 4
    latent_noise: float = 0.2
    latent_penalty: float = 0.03
    dream_weight: float = 1.0
    dream_steps: int = 3
    dream_batch: int = 16
    dream_pool: int = 256
    dream_restart: float = 0.01
    dream_match: str = "batch"     # batch: dreams together vs photos; image: each dream vs photos
    follow_weight: float = 1.0
    follow_steps: int = 8
    motion: float = 0.0            # the calm ↔ wild its card makes the model's default (0: the plain loop)
    snapshot_minutes: float = 3.0
    seed: int = 0
    command: str = ""


@dataclass
class Result:
    model: ConvAutoencoder
    psnr: float
    seconds: float
    losses: dict[str, float]
    steps: int


class Losses(nn.Module):
    """Every loss term of one step on this process's rows of the batch, as one module (DDP wraps it)."""

    def __init__(self, model: ConvAutoencoder, rule: loop.Rule, pool: DreamBuffer, config: TrainConfig,
                 team: Team):
        super().__init__()
        self.model, self.rule, self.pool, self.config, self.team = model, rule, pool, config, team

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        c, model, rule, team = self.config, self.model, self.rule, self.team
        terms, codes = losses.reconstruction(model, images)
        if c.recurrent_passes:
            terms.update(losses.recurrent(model, rule, images, codes, c.recurrent_passes, c.latent_noise, team))
        if c.dream_weight:
            terms.update(losses.dream(model, rule, self.pool, images, c.dream_batch, c.dream_steps,
                                      per_image=c.dream_match == "image", team=team))
        if c.follow_weight:
            terms.update(losses.follow(model, rule, images, c.follow_steps, team))
        return terms


class Trainer:
    def __init__(self, config: TrainConfig, frames: FrameSet, device: torch.device, run_dir: Path,
                 resume: Path | None = None, team: Team = ALONE):
        if config.batch % team.world or config.dream_batch % team.world:
            raise ValueError(f"batches of {config.batch} and {config.dream_batch} do not split over {team.world} "
                             f"processes")
        self.config = config
        self.device = device
        self.run_dir = run_dir
        self.team = team
        torch.manual_seed(config.seed)
        # dreams decay toward tiny values; denormal floats make CPU convolutions many times slower
        torch.set_flush_denormal(True)
        torch.backends.cudnn.benchmark = True
        self.model = ConvAutoencoder(AutoencoderConfig(config.widths, config.activation, resample=config.resample,
                                                       padding=config.padding, blocks=config.blocks))
        self.model.to(device, memory_format=torch.channels_last)
        self.rule = loop.Rule.default(self.model.depth)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.crops = Crops(frames, config.size, seed=config.seed)
        self.pool = DreamBuffer(self.model, config.dream_pool, config.size, config.dream_restart, device,
                                seed=config.seed, team=team)
        self.losses = Losses(self.model, self.rule, self.pool, config, team)
        if team.joined:
            self.losses = DistributedDataParallel(self.losses, device_ids=[device.index] if device.type == "cuda"
                                                  else None)
        self.step = 0
        self.elapsed = 0.0
        if resume is not None:
            self._resume(resume)
        self.validation = validation_images(VALIDATION_SIZE)
        self.preview = validation_preview(VALIDATION_SIZE)
        self.averages: dict[str, float] = {}

    # ---- resume ----------------------------------------------------------------------------
    def _resume(self, path: Path) -> None:
        if path.suffix == ".safetensors":
            from app.models.checkpoint import load
            self.model.load_state_dict(load(str(path)).model.state_dict())
            return
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:  # torch raises many kinds for a bad file
            raise UserError(f"--resume {path}: not a training state ({type(e).__name__}); pass runs/NAME/"
                            f"state.pt or a models/*.safetensors checkpoint") from None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.pool.load_state_dict(state["pool"])
        self.step = int(state["step"])
        self.elapsed = float(state.get("seconds", 0.0))

    def save_state(self) -> Path:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "pool": self.pool.state_dict(), "step": self.step, "seconds": self.elapsed,
                 "widths": list(self.config.widths), "activation": self.config.activation,
                 "resample": self.config.resample, "padding": self.config.padding, "blocks": self.config.blocks,
                 "batch": self.config.batch, "processes": self.team.world}
        return atomic_write(self.run_dir / "state.pt", lambda path: torch.save(state, path))

    # ---- one step ----------------------------------------------------------------------------
    def _learning_rate(self) -> float:
        c = self.config
        warm = min(1.0, (self.step + 1) / WARMUP_STEPS)
        progress = min(1.0, self.step / max(1, c.steps))
        if c.minutes:
            progress = max(progress, min(1.0, self.elapsed / (60 * c.minutes)))
        return c.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def train_step(self) -> dict[str, float]:
        c = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        images = self.crops.batch(c.batch, self.team).to(self.device).contiguous(memory_format=torch.channels_last)
        with self._autocast():
            terms = self.losses(images)
            total = terms["image"] + terms["layers"] + terms.get("recurrent", 0.0)
            total = total + c.follow_weight * terms.get("follow", 0.0)
            total = total + c.latent_penalty * (terms.get("latent", 0.0) + terms.get("dream_latent", 0.0))
            total = total + c.dream_weight * terms.get("dream", 0.0)
        values = self._means(terms, total)
        if not math.isfinite(values["total"]):
            raise UserError(f"training diverged at step {self.step} (loss is {values['total']}); lower --lr "
                            f"(now {c.lr:g}) or resume from the last snapshot with --resume")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.step += 1
        return values

    def _means(self, terms: dict[str, torch.Tensor], total: torch.Tensor) -> dict[str, float]:
        """Every term and the total as floats, each the mean over the team (the whole batch's)."""
        values = torch.stack([*(v.detach().float() for v in terms.values()), total.detach().float()])
        return dict(zip([*terms, "total"], self.team.mean_(values).tolist()))

    # ---- the loop ----------------------------------------------------------------------------
    def run(self, progress: bool = True) -> Result:
        """Trains to the end; only the team's leader logs, shows progress and snapshots (the other
        processes' result has no PSNR)."""
        c, leader = self.config, self.team.leader
        if leader:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        log = (self.run_dir / "log.jsonl").open("a") if leader else None
        last_snapshot = time.monotonic()
        bar = tqdm(total=c.steps, initial=self.step, desc=f"training {c.name}", unit="step",
                   disable=not (progress and leader), dynamic_ncols=True)
        start = time.monotonic() - self.elapsed
        try:
            while not self._finished():
                values = self.train_step()
                self._average(values)
                self.elapsed = self.team.leaders(time.monotonic() - start)    # one clock for --minutes
                bar.update()
                if log and (self.step % LOG_EVERY == 0 or self._finished()):
                    bar.set_postfix(loss=f"{self.averages['total']:.4f}", img=f"{self.averages['image']:.4f}")
                    log.write(json.dumps({"step": self.step, "seconds": round(self.elapsed, 1),
                                          **{k: round(v, 6) for k, v in self.averages.items()}}) + "\n")
                    log.flush()
                if leader and time.monotonic() - last_snapshot > 60 * c.snapshot_minutes:
                    self.snapshot(bar)
                    last_snapshot = time.monotonic()
            final_psnr = self.snapshot(bar) if leader else math.nan
        finally:
            bar.close()
            if log:
                log.close()
        return Result(self.model, final_psnr, self.elapsed, dict(self.averages), self.step)

    def _finished(self) -> bool:
        c = self.config
        return self.step >= c.steps or bool(c.minutes and self.elapsed >= 60 * c.minutes)

    def _average(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.averages[k] = v if k not in self.averages else 0.95 * self.averages[k] + 0.05 * v

    def snapshot(self, bar: tqdm | None = None) -> float:
        """Validation PSNR, a grid of reconstructions and one of 100-step dreams, and the training state."""
        self.model.eval()
        # only rank 0 takes snapshots: they must leave the random generators every process shares as they were
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            try:
                value = psnr(self.model, self.validation)
                tag = f"step-{self.step:06d}"
                figures.write_png(self.run_dir / f"{tag}-reconstructions.png",
                                  figures.reconstructions(self.model, self.preview))
                grid, _ = figures.dreams(self.model, self.rule, self.config.size, 100, 4, seed=self.step)
                figures.write_png(self.run_dir / f"{tag}-dreams.png", grid)
            finally:
                self.model.train()
        self.save_state()
        message = f"step {self.step}: validation PSNR {value:.2f} dB at {VALIDATION_SIZE}²; pictures in {self.run_dir}"
        (bar.write if bar is not None else print)(message)
        return value


def card(config: TrainConfig, frames: FrameSet, result: Result, device: torch.device,
         dreams: dict, team: Team = ALONE) -> dict:
    options = {k: v for k, v in asdict(config).items()
               if k not in ("name", "command", "widths", "activation", "resample", "padding", "blocks",
                             "snapshot_minutes")}
    options["steps"] = result.steps
    return {
        "name": config.name,
        "description": f"conv autoencoder {'-'.join(map(str, config.widths))} trained to dream natural images",
        "data": frames.description,
        "training": {**options, "device": device_name(device), "seconds": round(result.seconds, 1),
                     "rule": loop.Rule.default(len(config.widths)).to_dict(), **distribution(config, team)},
        "losses": {k: round(v, 6) for k, v in result.losses.items()},
        "validation": {"psnr_db": round(result.psnr, 2), "size": VALIDATION_SIZE,
                       "images": "held-out photos, whole and four native-resolution corner crops each"},
        "dreams": dreams,
        **({"defaults": {"motion": config.motion}} if config.motion else {}),
        "command": config.command,
    }


def distribution(config: TrainConfig, team: Team) -> dict:
    """What the card says of the processes: the global batch (``batch``) and its split."""
    split = {"processes": team.world, "global_batch": config.batch, "batch_per_process": config.batch // team.world}
    return {**split, "backend": team.backend} if team.joined else split


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def export(model: ConvAutoencoder, path: Path, card_fields: dict) -> Path:
    exported = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format).eval()
    return save_checkpoint(exported, path, card_fields)


def loaded_copy(model: ConvAutoencoder, name: str, motion: float = 0.0) -> LoadedModel:
    """A detached eval copy of ``model`` wrapped for the engine, dreaming at calm ↔ wild ``motion``."""
    clone = copy.deepcopy(model).eval().requires_grad_(False)
    card = {"architecture": architecture_of(clone), **({"defaults": {"motion": motion}} if motion else {})}
    return LoadedModel(name=name, path=Path(name), card=card, model=clone)
