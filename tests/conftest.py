from __future__ import annotations

import importlib
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "fixtures")
# Qwen3-0.6B's real tokenizer and configuration (no weights), kept in the repository for the tests.
QWEN3 = os.path.join(REPO, "tests", "data", "qwen3-0.6b")
# In CI everything a test needs is installed: a missing piece fails the run instead of skipping.
# Read once here: the fixture below clears ALTTEXT_* variables for every test.
IN_CI = os.environ.get("ALTTEXT_CI") == "1"


def require(module: str) -> None:
    """Skip the test when ``module`` (an optional extra) is missing here; fail in CI."""
    try:
        importlib.import_module(module)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{module} is not installed, and CI installs every extra")
        pytest.skip(f"{module} is not installed")


@pytest.fixture(autouse=True)
def _no_alttext_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own ALTTEXT_* variables must not change test results.
    for name in list(os.environ):
        if name.startswith("ALTTEXT_"):
            monkeypatch.delenv(name)
