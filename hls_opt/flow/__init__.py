"""The flow: checks and loading at the edge (:mod:`~hls_opt.flow.inputs`), training settings
(:mod:`~hls_opt.flow.settings`), the run (:mod:`~hls_opt.flow.run`: ``convert_and_optimize``), the result
and its atomic save (:mod:`~hls_opt.flow.result`), and the report (:mod:`~hls_opt.flow.report`)."""
