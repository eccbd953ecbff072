"""The error the training helpers raise for a checkpoint a user can fix (missing, truncated, corrupt)."""


class CheckpointError(ValueError):
    """A user-facing checkpoint problem: the message is one line and says what to fix."""
