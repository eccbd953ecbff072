"""Data preparation: audio I/O, manifests, the synthetic corpus, tokenizer models and the token cache.

Imports neither `pipeline` nor `stages`.
"""
from .errors import DataError

__all__ = ["DataError"]
