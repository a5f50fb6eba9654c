"""The hourglass convolutional autoencoder as a model kind."""

from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
from app.models.base import ModelKind

KIND = ModelKind(name="autoencoder", build=lambda config: ConvAutoencoder(AutoencoderConfig(**config)))
