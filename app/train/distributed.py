"""Training and surveys past one process, on PyTorch's own distributed engine.

Under ``torchrun`` (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT) a command
joins its run's process group (``session``): gloo on CPUs, NCCL on CUDA GPUs, each process on the GPU
of its LOCAL_RANK. Without torchrun the command runs in one process, as a ``Team`` of one, whose every
operation below leaves things as they are.

A team splits a batch in rank order: of a global batch of W·b, rank r holds rows r·b … r·b + b − 1.
Random numbers of a batch go through the team (``randn_like``, ``randint``, ``noise_start``): every
rank draws the global batch's numbers from the same seeded generator and keeps its own rows, so W
processes compute what one process computes.

Only the leader (rank 0) writes files and shows progress: ``session`` silences the other ranks'
output. A problem every process meets alike (a bad option, a batch that does not split) is said
once a host, by its first process (``one_voice``). A run that loses a process ends in one line
from the lowest rank left on each host, naming the rank that died where it ran on the same host,
instead of a traceback. Files are written whole or not at all (``atomic_write``: a temporary file,
then a rename).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import torch
import torch.distributed as dist

from app.errors import UserError

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
BACKENDS = ("auto", "gloo", "nccl")
# Rank 0 may work alone for long (a PVM's sleep, the final snapshot) while the others wait in a
# collective. A rank that dies is noticed at once (its connections close, torchrun stops the run);
# the timeout only ends a wait on a rank that hangs.
TIMEOUT = timedelta(hours=6)
# what a collective's error says when it lost a peer
LOST_PEER = re.compile(r"connection (closed|reset)|broken pipe|timed out|timeout|gloo|nccl|processgroup", re.I)


class Stopped(BaseException):
    """SIGTERM: torchrun stops every process of a run when one of them fails."""


class ProcessError(UserError):
    """A problem of this process that the others of the run need not share: it says it itself."""


@dataclass(frozen=True)
class Team:
    """The processes of a run, seen from this one (rank ``rank`` of ``world``)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None                      # None: one process, no process group
    device: torch.device = torch.device("cpu")      # where collectives' tensors live
    peers: tuple[tuple[str, int], ...] = ()          # (host, pid) of every rank

    @property
    def leader(self) -> bool:
        return self.rank == 0

    @property
    def joined(self) -> bool:
        return self.backend is not None

    def part(self, n: int) -> range:
        """This rank's share of ``n`` items, in rank order (the first n mod W ranks hold one more)."""
        base, extra = divmod(n, self.world)
        start = self.rank * base + min(self.rank, extra)
        return range(start, start + base + (self.rank < extra))

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        share = self.part(x.shape[0])
        return x[share.start:share.stop]

    # ---- random numbers of a global batch, this rank's rows ---------------------------------------
    def randn_like(self, local: torch.Tensor) -> torch.Tensor:
        """``torch.randn_like`` of the global batch (``local`` with W times its rows), this rank's rows."""
        layout = torch.empty_like(local)
        rest = local.shape[1:]
        if layout.dim() and layout.stride(0) == rest.numel():   # the batch outermost: laid out as one
            whole = torch.empty_strided((self.world * local.shape[0], *rest), layout.stride(),
                                        dtype=local.dtype, device=local.device)
        else:
            whole = local.new_empty((self.world * local.shape[0], *rest))
        return self.rows(whole.normal_())

    def randint(self, high: int, shape: tuple[int, ...], device: torch.device | str) -> torch.Tensor:
        return self.rows(torch.randint(0, high, (self.world * shape[0], *shape[1:]), device=device))

    def noise_start(self, model, batch: int, size: int, device) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``app.loop.mirror.noise_start`` of the global batch (``batch`` rows here), this rank's rows."""
        from app.loop.mirror import noise_start

        prediction, states = noise_start(model, self.world * batch, size, device=device)
        return self.rows(prediction), [self.rows(s) for s in states]

    # ---- collectives ----------------------------------------------------------------------------
    def gather(self, local: torch.Tensor, grad: bool = False) -> torch.Tensor:
        """Every rank's ``local`` (equal shapes) along the batch, in rank order; with ``grad``, gradients
        flow back to each rank's part (summed over the ranks that used it)."""
        if not self.joined:
            return local
        local = local.contiguous()
        if grad:
            return _Gather.apply(local, self)
        return _gather(local, self.world)

    def mean_(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean over the ranks, in place."""
        if self.joined:
            dist.all_reduce(tensor)
            tensor.div_(self.world)
        return tensor

    def sum_(self, tensors: list[torch.Tensor]) -> None:
        """Each tensor summed over the ranks, in place, in one collective."""
        if not self.joined:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        at = 0
        for t in tensors:
            t.copy_(flat[at:at + t.numel()].view_as(t))
            at += t.numel()

    def leaders(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (a clock, a decision)."""
        if not self.joined:
            return value
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.broadcast(tensor, 0)
        return float(tensor.item())

    def collect(self, obj):
        """Every rank's ``obj`` as a list in rank order on the leader; None on the others."""
        if not self.joined:
            return [obj]
        gathered = [None] * self.world if self.leader else None
        dist.gather_object(obj, gathered, dst=0)
        return gathered

    def share(self, obj):
        """The leader's ``obj`` on every rank."""
        if not self.joined:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # ---- a lost process ------------------------------------------------------------------------
    def dead_peers(self) -> list[int]:
        """The ranks on this host whose process has ended (others' hosts cannot be seen from here)."""
        here = socket.gethostname()
        return [rank for rank, (host, pid) in enumerate(self.peers)
                if rank != self.rank and host == here and not _alive(pid)]

    def lost(self, cause: str, hint: str) -> NoReturn:
        """The run lost a process: the lowest rank left on each host says so in one line."""
        dead, here = self.dead_peers(), socket.gethostname()
        left = [r for r, (host, _) in enumerate(self.peers) if host == here and r not in dead]
        if left and self.rank != min(left):
            raise SystemExit(2)
        raise ProcessError(self._lost_line(dead, cause, hint))

    def _lost_line(self, dead: list[int], cause: str, hint: str) -> str:
        if dead:
            who = ", ".join(f"rank {r} (pid {self.peers[r][1]})" for r in dead)
            what = f"{who} of {self.world} died"
        else:
            what = "another process of the run stopped or was cut off (another host, or it ended with an error)"
        return f"{what}, so rank {self.rank} stopped too ({cause}); {hint}"


ALONE = Team()


def _gather(local: torch.Tensor, world: int) -> torch.Tensor:
    parts = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(parts, local)
    return torch.cat(parts)


class _Gather(torch.autograd.Function):
    """All ranks' rows, in rank order; the gradient of a rank's rows is their gradient summed over
    the ranks (each rank's loss may read every row)."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, team: Team) -> torch.Tensor:
        ctx.team = team
        return _gather(local, team.world)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return ctx.team.rows(grad), None


def under_torchrun() -> bool:
    return all(key in os.environ for key in TORCHRUN_ENV)


def one_voice(command: Callable[..., int]) -> Callable[..., int]:
    """``command`` whose ``UserError`` is said once a host under torchrun, by its first process (LOCAL_RANK
    0): every process of a run meets a bad option or a batch that does not split alike. The others end
    quietly with the same status; a ``ProcessError`` each process says itself."""
    @functools.wraps(command)
    def said_once(*args, **kwargs) -> int:
        try:
            return command(*args, **kwargs)
        except UserError as e:
            if isinstance(e, ProcessError) or not under_torchrun() or int(os.environ["LOCAL_RANK"]) == 0:
                raise
            raise SystemExit(2) from None
    return said_once


@contextlib.contextmanager
def session(device: torch.device, backend: str = "auto",
            hint: Callable[[], str] = lambda: "nothing was half-written") -> Iterator[tuple[Team, torch.device]]:
    """The team of this process and the device it computes on: under torchrun, joined to the run's
    process group (and the ranks other than 0 silenced), else a team of one on ``device``. A lost
    process ends the work in one ``UserError`` line, ``hint()`` saying what was kept."""
    if not under_torchrun():
        yield ALONE, device
        return
    team, device = _join(device, backend)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with contextlib.ExitStack() as quiet:
            if not team.leader:
                devnull = quiet.enter_context(open(os.devnull, "w"))
                quiet.enter_context(contextlib.redirect_stdout(devnull))
                quiet.enter_context(contextlib.redirect_stderr(devnull))
            try:
                yield team, device
            except (Stopped, RuntimeError) as e:
                if not (isinstance(e, (Stopped, dist.DistError)) or LOST_PEER.search(str(e)) or team.dead_peers()):
                    raise
                previous = signal.SIG_IGN       # torchrun stops the others: this one's line goes out first
                team.lost("torchrun sent SIGTERM" if isinstance(e, Stopped) else _first_sentence(e), hint())
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def backend_for(device: torch.device, backend: str = "auto") -> str:
    """gloo on CPUs, NCCL on CUDA GPUs; each refused in one line where it cannot run."""
    if backend not in BACKENDS:
        raise UserError(f"--backend {backend}: pick one of {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and not dist.is_nccl_available():
        raise UserError(f"NCCL is missing: this torch ({torch.__version__}) was built without it; install a CUDA "
                        f"build of torch for Linux, or pass --backend gloo")
    if backend == "nccl" and device.type != "cuda":
        raise UserError(f"--backend nccl carries CUDA tensors only, and this run computes on {device.type}; pass "
                        f"--device cuda, or --backend gloo")
    if backend == "gloo" and not dist.is_gloo_available():
        raise UserError(f"gloo is missing from this torch ({torch.__version__}); install torch from pytorch.org")
    return backend


def _join(device: torch.device, backend: str) -> tuple[Team, torch.device]:
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    backend = backend_for(device, backend)
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ProcessError(f"LOCAL_RANK {local} but this host has {torch.cuda.device_count()} CUDA GPU(s); start "
                            f"at most one process per GPU (torchrun --nproc-per-node {torch.cuda.device_count()})")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        dist.init_process_group(backend, timeout=TIMEOUT)
    except (RuntimeError, ValueError) as e:
        raise UserError(f"rank {rank} could not join the run at {where} ({_first_sentence(e)}); check that every "
                        f"host reaches it and that --nnodes and --nproc-per-node match the processes started") from None
    peers = [None] * world
    dist.all_gather_object(peers, (socket.gethostname(), os.getpid()))
    talks_on = device if backend == "nccl" else torch.device("cpu")
    return Team(rank, world, local, backend, talks_on, tuple(tuple(p) for p in peers)), device


def _stop(signum, frame) -> None:
    raise Stopped()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:    # a killed child of torchrun is a zombie until torchrun reaps it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _first_sentence(error: BaseException) -> str:
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(error).strip().splitlines()[0] if str(error).strip() else "")
    return (text.split(". ")[0] or type(error).__name__)[:120]


# ---- whole files or none ---------------------------------------------------------------------------
def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(temporary)`` then the temporary file renamed to ``path``: a reader, or a run killed at
    any moment, finds the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        write(temporary)
        _flush(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(model, path: Path, card: dict | None = None, export: bool = False) -> Path:
    """``app.models.checkpoint.save`` (NAME.safetensors and its card NAME.json), each file whole: both
    are written in a temporary folder beside them and renamed into place."""
    from app.models.checkpoint import save

    path = Path(path).with_suffix(".safetensors")
    folder = path.parent / f".{path.stem}.{os.getpid()}.partial"
    try:
        written = save(model, folder / path.name, card, export)
        for part in (written.with_suffix(".json"), written):
            _flush(part)
            os.replace(part, path.with_name(part.name))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return path


def _flush(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
