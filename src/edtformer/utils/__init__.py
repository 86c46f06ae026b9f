"""Small shared helpers: atomic file and folder writes."""

from edtformer.utils.io import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["atomic_dir", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]
