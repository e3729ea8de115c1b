"""What the exit status of a respq command means (also written in ``respq --help``); an error
class may carry the one a process ends with (``SpoolFull.exit_code``)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """A command's exit status."""

    OK = 0
    FAILED_REQUESTS = 1
    USAGE = 2
    REDIS = 3
    REDIS_TIMEOUT = 4
    REDIS_OUT_OF_MEMORY = 5
    REDIS_READ_ONLY = 6
    REDIS_REFUSED = 7
    NO_SPACE = 8
    INTERRUPTED = 130
