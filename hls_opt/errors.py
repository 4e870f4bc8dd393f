"""hls-opt's error hierarchy.

Every error a user can cause is an :class:`HlsOptError` whose message names the file, key or
layer at fault.  The CLI maps them to exit status 2 and one line on stderr.  The concrete classes
also derive from ``ValueError`` so that callers written against hls4ml (which raised bare
``Exception``) or plain Python conventions keep working.
"""

from __future__ import annotations


class HlsOptError(Exception):
    """Base of every error hls-opt raises on purpose."""


class ConfigError(HlsOptError, ValueError):
    """An hls4ml-style configuration value is missing or malformed; the message names the key path."""


class InfeasibleBudget(ConfigError):
    """A latency/II/DSP/BRAM budget no configuration of the model can meet; the message gives the
    best the model can reach (``hls_opt.cost.feasibility.check_budgets``)."""


class PrecisionError(ConfigError):
    """A precision string cannot be parsed."""


class ModelError(HlsOptError, ValueError):
    """A model file or object cannot be used; the message names the file or layer."""


class DataError(HlsOptError, ValueError):
    """Training or validation data are missing or have the wrong shape."""


class RegistryError(HlsOptError, ValueError):
    """A registry lookup failed (unknown name) or a registration clashed with an existing one."""


class EstimatorError(HlsOptError, ValueError):
    """A resource model or objective cannot handle the layer it was given."""
