"""conda-fetch: get conda packages through bad networks into conda's package cache."""

__version__ = "0.2.0"
