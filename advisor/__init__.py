"""hoot's basics every layer uses: errors, paths, rendering, units, the catalog, devices, the dataset scan;
the recommender built on them lives in `hoot.advisor.recommender`.

Nothing here imports torch or torchvision at import time, so `hoot advise` answers fast.
"""

__version__ = "0.1.0"
