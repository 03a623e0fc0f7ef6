"""The structure facts hold: no import loop, no module of 450 lines or more, and no function-level
import of the package's own modules but the deliberate ones benchmarks/structure.py lists."""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests.conftest import REPO


def test_the_structure_facts_hold(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("structure", os.path.join(REPO, "benchmarks", "structure.py"))
    assert spec and spec.loader
    structure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(structure)
    assert structure.main(["--strict"]) == 0, capsys.readouterr().out
