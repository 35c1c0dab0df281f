"""The examples in the docstrings of theory/ and weakstrong/ run as printed."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import weakstrong
import weakstrong.theory

MODULES = sorted({f"{pkg.__name__}.{m.name}" for pkg in (weakstrong, weakstrong.theory)
                  for m in pkgutil.iter_modules(pkg.__path__) if not m.ispkg and m.name != "__main__"}
                 | {"weakstrong.theory.gain.predictor"})


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_examples_are_found():
    counts = {n: doctest.testmod(importlib.import_module(n), optionflags=doctest.ELLIPSIS).attempted for n in MODULES}
    assert counts["weakstrong.runs"] >= 2 and counts["weakstrong.theory.resampling"] >= 2
