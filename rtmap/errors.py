"""The one exception type users see: the CLI prints its message as ``error: ...``."""


class RtmapError(ValueError):
    """Bad input (file, shape, value, parameter) or a program that cannot run.

    The message is one line that names the problem and where it is.
    """
