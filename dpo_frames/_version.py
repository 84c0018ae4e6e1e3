"""The version of dpo_frames (read by the package build and written into every record)."""

__version__ = "0.2.0"
