from app.models.base import ModelKind
from app.models.panning_photos.model import PanningConfig, PanningPhotos

KIND = ModelKind(name="panning-photos", build=lambda config: PanningPhotos(PanningConfig(**config)))
