"""Entry point: `python -m simulator serve | seed-demo | tenant | app | mailbox | stats | outbound | fault | reset`."""

import sys

from simulator.cli import main

sys.exit(main())
