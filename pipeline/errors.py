"""User-facing errors raised by the pipeline layer."""


class UserError(Exception):
    """A mistake the user can fix (bad flag, missing run, bad config): printed as one line, exit 2."""


class ConfigError(UserError):
    """An invalid profile, key or override value."""
