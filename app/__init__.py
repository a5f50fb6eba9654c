"""Hypnagogia: trained neural networks dreaming in real time."""

__version__ = "0.1.0"
