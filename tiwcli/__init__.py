"""tiw: Implicit Warping face animation (Mallya, Wang, Liu, NeurIPS 2022)."""

__version__ = "0.1.0"
