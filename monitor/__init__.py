"""Regulatory change monitor for export controls on AI chips and cloud computing."""

__version__ = "0.1.0"
