"""`python -m whisperlive`."""

import sys

from whisperlive.cli import main

sys.exit(main())
