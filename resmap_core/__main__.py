"""``python -m resmap_core`` is the ``resmap`` command."""

import sys

from .cli import main

sys.exit(main())
