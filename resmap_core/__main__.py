"""``python -m resmap_core`` is the ``resmap`` command."""

import sys

from resmap_core.cli.main import main

sys.exit(main())
