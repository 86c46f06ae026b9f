"""Small shared helpers: atomic file and folder writes, the on-disk cache."""

from edtformer.utils.cache import cache_root, cached_bytes
from edtformer.utils.io import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "cache_root",
    "cached_bytes",
]
