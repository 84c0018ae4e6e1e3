"""Errors raised by dpo_frames' core (the Customizer client has its own hierarchy)."""


class DpoFramesError(Exception):
    """Base class of every error dpo_frames raises on purpose."""


class SourceError(DpoFramesError, ValueError):
    """A steps source could not be read: unknown kind, missing file, wrong shape."""


class SchemaError(DpoFramesError, ValueError):
    """A frame does not have the columns or dtypes its contract requires."""
