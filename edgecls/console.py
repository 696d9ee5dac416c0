"""The one output channel: results on stdout; progress, information, warnings and errors on stderr.

Library code reports through these functions and returns its results as data; results a
user pipes into ``grep`` or ``jq`` (each image's answer) go through :func:`result`. ``set_level`` (the CLI's ``--quiet`` / ``--verbose``)
decides what reaches the user: ``quiet`` keeps warnings and errors, ``verbose`` also lets
native libraries' own start-up lines through (see :func:`native_stderr`).

>>> set_level("quiet"); info("hidden"); set_level("normal")
"""

from __future__ import annotations

import contextlib
import os
import sys

from edgecls.errors import clean_text

LEVELS = ("quiet", "normal", "verbose")
_level = os.environ.get("EDGECLS_VERBOSITY", "normal")


def set_level(level: str) -> None:
    """``quiet``, ``normal`` or ``verbose``; inherited by subprocesses through the environment."""
    global _level
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    _level = level
    os.environ["EDGECLS_VERBOSITY"] = level


def level() -> str:
    return _level


def _write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def result(line: str) -> None:
    """One line of the command's result on stdout (never silenced: it is what was asked for)."""
    sys.stdout.write(f"{clean_text(line)}\n")
    sys.stdout.flush()


def info(message: str) -> None:
    """Progress and facts the user may want; silenced by ``--quiet``."""
    if _level != "quiet":
        _write(f"{message}\n")


def warn(message: str) -> None:
    """Something the user must know although the command goes on."""
    _write(f"warning: {clean_text(message)}\n")


def error(message: str) -> None:
    """The one line a failed command prints."""
    _write(f"error: {clean_text(message)}\n")


def progress(done: int, total: int, text: str = "") -> None:
    """A one-line bar redrawn in place (only on a terminal, and not under ``--quiet``)."""
    if _level == "quiet" or not sys.stderr.isatty():
        return
    width = 24
    filled = int(width * done / max(total, 1))
    _write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text:<48}" + ("\n" if done >= total else ""))


@contextlib.contextmanager
def native_stderr():
    """Silence what native code writes to file descriptor 2 (unless ``verbose``).

    TensorFlow's converter ("fully_quantize: 0, inference_type: 6 ..."), LiteRT ("INFO: Created
    TensorFlow Lite XNNPACK delegate for CPU.") and absl print from C++, past Python's
    ``sys.stderr``; they would bury the one-line messages this tool promises.
    """
    if _level == "verbose" or os.environ.get("EDGECLS_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
