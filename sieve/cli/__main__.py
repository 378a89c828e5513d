"""``python -m sieve.cli``: the same as the ``sieve`` command."""

import sys

from sieve.cli.main import main

sys.exit(main())
