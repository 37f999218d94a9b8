"""The tasks hoot trains (classification, multi-label, detection, segmentation), one module each."""
