"""ESMC Desktop: sort a photo collection into clusters by criteria the user types."""

__version__ = "0.1.0"
