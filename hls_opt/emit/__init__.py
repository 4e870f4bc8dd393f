"""What comes out: the graph as a new Keras model (:mod:`~hls_opt.emit.keras_model`) and the hls4ml config
hls4ml builds (:mod:`~hls_opt.emit.hls4ml_config`)."""
