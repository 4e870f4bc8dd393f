"""``python -m hls_opt.cli``: the ``hls-opt`` command."""

import sys

from hls_opt.cli.main import main

sys.exit(main())
