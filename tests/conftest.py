from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "fixtures")


@pytest.fixture(autouse=True)
def _no_alttext_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own ALTTEXT_* variables must not change test results.
    for name in list(os.environ):
        if name.startswith("ALTTEXT_"):
            monkeypatch.delenv(name)
