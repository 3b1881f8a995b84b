"""`python -m loadgen`."""

import sys

from loadgen.cli.entry import main

sys.exit(main())
