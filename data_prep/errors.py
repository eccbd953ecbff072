"""Errors that data_prep raises for bad user input (files, manifests, audio)."""


class DataError(ValueError):
    """A user-facing data problem: the message is one line and says what to fix."""
