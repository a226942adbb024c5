"""``python -m skkeras``: the ``skkeras`` command (see :mod:`skkeras.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
