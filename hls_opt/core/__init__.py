"""Values every layer shares, importing nothing of the project but :mod:`hls_opt.errors`: ``Precision``
(:mod:`~hls_opt.core.precision`), weight groups (:mod:`~hls_opt.core.structures`), atomic file writes
(:mod:`~hls_opt.core.fileio`) and progress lines (:mod:`~hls_opt.core.progress`)."""
