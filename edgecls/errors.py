"""The one exception type for user mistakes.

Anything raised as :class:`EdgeclsError` is a problem with the user's input (a missing
file, a wrong option, data that does not fit the model). The CLI prints its message as
one line on stderr and exits with ``exit_code``; every other exception is a bug and keeps
its traceback.
"""


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
