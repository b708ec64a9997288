"""texnet: Improved Texture Networks (Ulyanov, Vedaldi, Lempitsky, CVPR 2017) in PyTorch."""
__version__ = "0.1.0"
