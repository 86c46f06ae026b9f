"""Experiments: apps that train *and* evaluate (``edt bench``, the ablation table).

They sit above the library: an experiment imports :mod:`edtformer.training` and
:mod:`edtformer.evaluation` and builds typed :class:`~edtformer.training.config.TrainConfig`
objects with :func:`dataclasses.replace`; no library package imports this one, and evaluation
never imports training (an import-linter contract in ``pyproject.toml`` checks both).
"""
