"""The Chemprop import shim survives being called twice in one process (train, then evaluate)."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from edtformer.encoders import chemprop_enc


def test_import_shim_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("chemprop") is None:
        pytest.skip("chemprop not installed")
    monkeypatch.delitem(sys.modules, "cuik_molmaker", raising=False)
    if importlib.util.find_spec("cuik_molmaker") is None:
        # a stand-in module (no __spec__) like the one the shim installs
        monkeypatch.setitem(sys.modules, "cuik_molmaker", types.ModuleType("cuik_molmaker"))
    first = chemprop_enc._import_chemprop()
    assert chemprop_enc._import_chemprop() is first  # used to raise ValueError (__spec__ is None)
