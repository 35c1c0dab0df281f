"""The README stays short and its example runs as printed (the only numbers it shows are the example's)."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_example_prints_what_it_says():
    result = doctest.testfile(str(README), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


def test_readme_is_short_and_quotes_no_measured_number():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    # Outside the example and the references, a decimal number would be a hand-copied measurement.
    prose = re.sub(r"```python.*?```", "", text, flags=re.S).split("## References")[0]
    assert not re.findall(r"\b\d+\.\d+\b", prose.replace("Python 3.11", ""))
