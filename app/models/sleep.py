"""Sleep (seed 000) for models that learn online: once a dream has settled, unlearn it.

The window's defaults (a model kind's parameters) and the survey's sleep share these numbers.
"""

from __future__ import annotations

THRESHOLD = 1e-3        # per-step RMS change of the prediction under which a dream counts as settled
PATIENCE = 30           # steps the change must stay under it
RATE = 0.005            # the learning rate, applied negatively, while asleep


class Sleep:
    """Sleep (seed 000): once a dream has settled — the prediction's per-step change stays under
    ``threshold`` for ``patience`` steps — learn with a negative rate until it moves again."""

    def __init__(self):
        self.sleeping = False
        self.episodes = 0
        self._quiet = 0

    def update(self, change: float, threshold: float, patience: int) -> bool:
        quiet = change < threshold
        self._quiet = self._quiet + 1 if quiet else 0
        if not self.sleeping and self._quiet >= patience:
            self.sleeping = True
            self.episodes += 1
        elif self.sleeping and not quiet:
            self.sleeping = False
        return self.sleeping

    def reset(self) -> None:
        self.sleeping, self._quiet = False, 0
