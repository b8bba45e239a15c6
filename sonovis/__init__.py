"""sonovis: spoken captions and images in one embedding space."""

__version__ = "0.1.0"
