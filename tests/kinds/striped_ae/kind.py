from app.models.base import ModelKind
from app.models.striped_ae.model import StripedAE, StripedAEConfig

KIND = ModelKind(name="striped-ae", build=lambda config: StripedAE(StripedAEConfig(**config)))
