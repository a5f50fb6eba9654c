"""The subcommands behind ``app.cli``: one module each."""

from app.commands.attractors import attractors
from app.commands.bench import bench
from app.commands.info import info, params
from app.commands.live import live
from app.commands.record import record


def extra_commands():
    """Registrars ``register(subparsers, add_common)`` of subcommands that live in other rooms."""
    from app.analysis.commands import register as experiment_commands
    from app.models.pvm_commands import register as pvm_commands
    from app.train.commands import register as train_commands

    return [train_commands, pvm_commands, experiment_commands]


__all__ = ["attractors", "bench", "info", "live", "params", "record", "extra_commands"]
