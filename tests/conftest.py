import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as app.commands.main does, before torch and numpy load
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_flush_denormal(True)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def user_home(tmp_path_factory) -> Path:
    """The user's folders (models, runs, presets, captures) of every test and of the commands it runs,
    in a fresh folder instead of the real ones (``HYPNAGOGIA_HOME``, read by ``app.resources``)."""
    home = tmp_path_factory.mktemp("hypnagogia-home")
    before = os.environ.get("HYPNAGOGIA_HOME")
    os.environ["HYPNAGOGIA_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("HYPNAGOGIA_HOME", None)
    else:
        os.environ["HYPNAGOGIA_HOME"] = before


@pytest.fixture(scope="session")
def gl():
    from app.gl.context import headless_context
    ctx = headless_context()
    yield ctx
    ctx.release()


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """A small autoencoder with random weights, saved the way `hypnagogia train` saves models."""
    from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
    from app.models.checkpoint import save
    torch.manual_seed(0)
    model = ConvAutoencoder(AutoencoderConfig(widths=(8, 16, 24, 32)))
    return save(model, tmp_path_factory.mktemp("models") / "random-ae.safetensors",
                {"description": "random weights, for tests only"})


def run_cli(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `python -m app …` as a user would, capturing its output."""
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def model_arg(random_checkpoint) -> list[str]:
    return ["--model", str(random_checkpoint)]


@pytest.fixture(scope="session")
def shipped_checkpoint() -> Path:
    """A small trained model that ships in models/ (trained by `hypnagogia train ae`)."""
    path = ROOT / "models" / "ae-tiny-smooth.safetensors"
    assert path.exists(), "models/ae-tiny-smooth.safetensors is missing: train it with `hypnagogia train ae`"
    return path


@contextlib.contextmanager
def xvfb(screen: str = "1280x800x24"):
    """A virtual X server of one ``screen`` (WxHxDEPTH); yields its DISPLAY."""
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", screen, "-nolisten", "tcp"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    number = server.stdout.readline().strip()
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """A real tmpfs of ``size`` (e.g. 512k) mounted at ``folder``, or the test skipped with the reason."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fills ``disk`` up, then frees ``leave`` bytes (in whole pages) again; the filler's path."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def default_stop_signals(then=None):
    """A Popen ``preexec_fn``: the child starts with SIGINT, SIGTERM and SIGHUP at their defaults,
    whatever this run inherited (a suite started under nohup ignores SIGHUP, and the app rightly
    keeps an inherited SIGHUP ignored), then runs ``then``."""
    def prepare():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        if then is not None:
            then()
    return prepare


def taken_over(proc, timeout=60.0) -> None:
    """Until main() in ``proc`` has taken the stop signals over: it catches SIGTERM (Linux: SigCgt in
    /proc; before that only Python's own SIGINT handler is there). A signal sent earlier, while the
    interpreter itself starts, does what the parent set up or what Python does, which no program
    can change."""
    status = Path(f"/proc/{proc.pid}/status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            caught = next(int(line.split()[1], 16) for line in status.read_text().splitlines()
                          if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            time.sleep(0.5)              # no /proc here: half a second is plenty on an idle machine
            return
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.002)


class LinesHost:
    """The program around the controllers, as ``record`` is (``app.controllers.hub.Host``): the lines
    it is told are kept to be read, and a switch of model or source is refused, as where none exists."""

    def __init__(self):
        self.lines: list[str] = []

    def model_name(self) -> str:
        return "random-ae"

    def source_spec(self) -> str:
        return "noise"

    def switch_model(self, name: str) -> None:
        from app.errors import UserError
        raise UserError("no models here")

    def switch_source(self, spec: str) -> None:
        from app.errors import UserError
        raise UserError("no sources here")

    def thumbnail(self):
        return None

    def notify(self, message: str) -> None:
        self.lines.append(message)


def controller_registry():
    """The registry a loop's controllers see: the loop's parameters and their own."""
    from app.controllers.params import controller_params
    from app.params import make_registry
    registry = make_registry()
    for param in controller_params():
        registry.declare(param)
    return registry
