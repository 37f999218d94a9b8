"""hoot's advisor: the catalog, the recommender and the CLI front.

Nothing here imports torch or torchvision at import time, so `hoot advise` answers fast.
"""

__version__ = "0.1.0"
