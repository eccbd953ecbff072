"""Errors the stages raise for problems a user can fix (bad tokens, diverged training, bad checkpoint)."""


class StageError(ValueError):
    """A user-facing stage problem: the message is one line and says what to fix."""
