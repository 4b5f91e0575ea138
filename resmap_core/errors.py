"""The one exception type that crosses the package boundary for bad input."""


class InputError(Exception):
    """Bad user input: the CLI prints the message on one line and exits with status 2.

    Messages name the file (when there is one) and say what to do next.
    """
