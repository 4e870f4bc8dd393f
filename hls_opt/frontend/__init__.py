"""Frontends: models in, IR graphs out.  ``from_keras`` imports Keras only when called."""

from hls_opt.frontend.keras import from_keras

__all__ = ["from_keras"]
