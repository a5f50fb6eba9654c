"""``hypnagogia live``: the window (the default command)."""


def live(args) -> int:
    from app.ui.app import run_live  # the window's libraries load only when a window is wanted
    return run_live(args)
