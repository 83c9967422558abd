"""Exceptions that carry a message meant for the user, not a traceback."""


class UserInputError(ValueError):
    """Bad input from a user: unknown model, parameter or result, a malformed or out-of-domain value.

    The CLI prints ``str(error)`` on one line of stderr and exits with status 2.
    """

