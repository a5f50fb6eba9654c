from app.models.base import ModelKind
from app.models.random_ae.model import RandomAE, RandomAEConfig
from app.params import Param

KIND = ModelKind(
    name="random-ae", build=lambda config: RandomAE(RandomAEConfig(**config)),
    params=(Param("random_ae.code_scale", "float", 1.0, "Gain on the top layer's code.", "random_ae", 0.0, 2.0,
                  label="code scale"),),
    panel_groups=("random_ae",),
    mode_defaults={"role:top-down gain": 0.8})
