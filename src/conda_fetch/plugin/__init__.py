"""conda-fetch as a conda plugin.

``hooks`` is the only module that imports conda; conda itself loads it through
the ``conda`` entry point, so without conda it is never imported. ``prefetch``
holds the logic, on plain records and a cache path, testable without conda.
"""
