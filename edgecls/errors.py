"""The one exception type for user mistakes, and the helpers that word its messages.

Anything raised as :class:`EdgeclsError` is a problem with the user's input (a missing
file, a wrong option, data that does not fit the model). The CLI prints its message as
one line on stderr and exits with ``exit_code``; ``--debug`` shows the cause chain
(raise it ``from exc``). Library messages name the parameter (``image_size``); the CLI's
own option types name the flag.

>>> first_line(ValueError("bad header\\nat byte 12"))
'bad header'
>>> clean_text("cat\\x1b[31m\\nred")
'cat?[31m?red'
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class EdgeclsError(Exception):
    """A user-facing error: one clear line, non-zero exit, no traceback."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class GateError(EdgeclsError):
    """An exported artifact failed its parity gate (exit code 3)."""

    exit_code = 3


def clean_text(text: object, limit: int | None = None) -> str:
    """``text`` with control characters (ANSI escapes, newlines, bidi overrides) as ``?``.

    Anything read from a file (labels, metadata, file names) passes through here before
    it reaches a terminal or an overlay.
    """
    out = _CONTROL.sub("?", str(text)).encode("utf-8", "replace").decode("utf-8")  # undecodable file names too
    return out if limit is None or len(out) <= limit else out[: limit - 3] + "..."


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of a library's error message, cleaned and shortened.

    Native libraries (TensorFlow, ONNX Runtime, OpenCV) put pages of context under one
    useful line; the user sees that line, ``--debug`` shows the rest.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return clean_text(lines[0] if lines else type(exc).__name__, limit)
