"""`python -m graphnn.cli`: the same as the `graphnn` command."""

import sys

from .main import main

sys.exit(main())
