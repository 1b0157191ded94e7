"""Where the plugin writes: stdout that survives a closed pipe, stderr for one-line errors.

``kubectl finnexus status web | head -1`` closes the pipe early; Python then raises
BrokenPipeError on the next write (and again at exit, while flushing). `Output` swallows it
once, points the stdout file descriptor at /dev/null so the interpreter's final flush is quiet,
and remembers it (`closed`), so that watch loops stop and the exit code is kept.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

__all__ = ["Output"]


class Output:
    """Write lines to stdout; stop quietly when the reader went away."""

    def __init__(self, stream: TextIO | None = None, err: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.closed = False

    @property
    def tty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def line(self, text: str = "") -> None:
        self.write(text + "\n")

    def write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self._close()

    def error(self, text: str) -> None:
        """One line on stderr, prefixed like kubectl's plugins do."""
        try:
            self.err.write(f"error: {text}\n")
            self.err.flush()
        except (BrokenPipeError, ValueError):
            pass

    def _close(self) -> None:
        self.closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
