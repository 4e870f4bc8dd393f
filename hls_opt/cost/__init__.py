"""Cost models: ``ResourceVector``, the ``Backend`` base and its registry (:mod:`~hls_opt.cost.resources`),
timing values and their composition (:mod:`~hls_opt.cost.timing`), budget bounds before any training
(:mod:`~hls_opt.cost.feasibility`).  The backends themselves live in ``hls_opt.backends``."""
