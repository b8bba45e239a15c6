"""One exception family, so the CLI can print a single clear line instead of a traceback."""


class SonovisError(Exception):
    """Bad input or setup the user can fix; the message names the file (and row) at fault."""


class ConfigError(SonovisError):
    """A config file or ``--set`` value that does not fit the dataclasses."""


class InputError(SonovisError):
    """A dataset, audio file or prepared folder that cannot be read."""
