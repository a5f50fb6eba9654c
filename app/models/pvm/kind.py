"""The Predictive Vision Model as a model kind: its live parameters, its mode defaults and the stack
the loop runs."""

from app.models.base import ModelKind
from app.models.pvm.model import PVM, state_shapes
from app.models.pvm.spec import PVMSpec
from app.models import sleep
from app.models.pvm.dreamer import PVMDreamer
from app.models.pvm.stack import PVMStack
from app.params import Param

PARAMS = (
    Param("pvm.learning", "bool", True, "PVM learns online from every step (off: weights frozen).", "pvm",
          label="learning"),
    Param("pvm.schedule", "bool", True, "Follow the spec's developmental schedule of learning rates (off: "
          "every layer learns at the rate below).", "pvm", label="schedule"),
    Param("pvm.learning_rate", "float", 0.01, "Learning rate of every layer when the schedule is off.", "pvm",
          0.0, 0.2, label="learning rate", visible_if="!pvm.schedule"),
    Param("pvm.lateral", "bool", True, "Lateral context (neighbours' outputs); off is a reversible lesion.",
          "pvm", label="lateral context"),
    Param("pvm.feedback", "bool", True, "Feedback context from the units above; off is a reversible lesion.",
          "pvm", label="feedback context"),
    Param("pvm.global_context", "bool", True, "The top layer's output sent to every unit; off is a reversible "
          "lesion.", "pvm", label="global context"),
    Param("pvm.sleep", "bool", False, "Sleep: when a dream has settled, learn with a negative rate until it "
          "leaves the attractor.", "pvm", label="sleep"),
    Param("pvm.sleep_threshold", "float", sleep.THRESHOLD, "Per-step RMS change of the prediction under which the "
          "dream counts as settled.", "pvm", 1e-5, 0.05, label="settled below", visible_if="pvm.sleep"),
    Param("pvm.sleep_patience", "int", sleep.PATIENCE, "Steps the change must stay under the threshold before sleep.",
          "pvm", 2, 1000, label="settled for", visible_if="pvm.sleep"),
    Param("pvm.sleep_rate", "float", sleep.RATE, "Learning rate (applied negatively) while asleep.", "pvm",
          0.0, 0.1, label="sleep rate", visible_if="pvm.sleep"),
)

KIND = ModelKind(
    name="pvm", build=lambda config: PVM(PVMSpec(**config)), runtime=PVMStack, dreamer=PVMDreamer, params=PARAMS,
    state_shapes=lambda config, exported: state_shapes(PVMSpec(**config), exported), panel_groups=("pvm",),
    # normally every layer reads its own signal: the mixer passes the bottom-up drive through
    mode_defaults={"role:bottom-up gain": 1.0, "role:top-down gain": 0.0},
    lesions={"feedback": ("pvm.feedback", False), "lateral": ("pvm.lateral", False)},
    learning_settings={"pvm.learning": True, "pvm.schedule": False})
