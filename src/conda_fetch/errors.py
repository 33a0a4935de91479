"""Exceptions that front ends turn into one-line messages and exit codes."""


class CondaFetchError(Exception):
    """Base class for errors reported to the user in one line."""

    exit_code = 1


class InputError(CondaFetchError):
    """Bad usage or malformed input (a plan, an option, a URL): exit code 2."""

    exit_code = 2
