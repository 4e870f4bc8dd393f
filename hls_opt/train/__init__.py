"""The trainer (imports Keras): the engine (:mod:`~hls_opt.train.engine`), masks, ranking, regularisers,
fitting and data feeding, schedulers, distribution over devices, and one module per Keras backend
(:mod:`hls_opt.train.backends`)."""
