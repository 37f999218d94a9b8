"""`python -m hoot.cli ...` runs the `hoot` command."""

import sys

from hoot.cli.main import main

sys.exit(main())
