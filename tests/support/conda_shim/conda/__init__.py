"""Stand-in for the two names conda-index imports from conda (see tests/support/channel.py).

Only ever on PYTHONPATH of the conda-index subprocess, never in the test process.
"""
