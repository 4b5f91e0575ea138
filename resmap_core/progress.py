"""Progress messages on stderr, silenced by ``--quiet``."""

from __future__ import annotations

import sys
import time


class Progress:
    """Line-oriented progress reporter; every message goes to stderr unless ``quiet``."""

    def __init__(self, quiet: bool = False, prefix: str = "resmap") -> None:
        self.quiet = quiet
        self.prefix = prefix
        self._bar_last = -1.0

    def say(self, message: str) -> None:
        """Print one line."""
        if not self.quiet:
            print(f"{self.prefix}: {message}", file=sys.stderr, flush=True)

    def bar(self, done: int, total: int, label: str = "") -> None:
        """Draw a text progress bar; redraws at most every 0.2 s and always at completion."""
        if self.quiet or total <= 0:
            return
        now = time.monotonic()
        if done < total and now - self._bar_last < 0.2:
            return
        self._bar_last = now
        width = 30
        filled = int(width * done / total)
        end = "\n" if done >= total else "\r"
        sys.stderr.write(
            f"{self.prefix}: {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}"
        )
        sys.stderr.flush()
