"""``python -m sse_stats`` is the ``sse-stats`` command."""

import sys

from sse_stats.cli import main

sys.exit(main())
