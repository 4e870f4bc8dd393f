"""The ``hls-opt`` command (:mod:`hls_opt.cli.main`) and the demo (:mod:`hls_opt.cli.demo`)."""

from hls_opt.cli.main import COMMANDS, main

__all__ = ["COMMANDS", "main"]
