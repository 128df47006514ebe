"""rnncondense: train rate RNNs on timing tasks, analyse their solutions, condense them."""
__version__ = "0.1.0"
