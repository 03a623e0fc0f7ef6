"""A real instruct model in the loop: SmolLM2-135M-Instruct, as the GGUF file that
``../shared/tools/real-llms.sh .real-llms smollm2`` assembles (``.ci/run`` does). Loaded from the
``.gguf`` path given as the writer model, as a user's Ollama or LM Studio file would be.

These tests assert mechanics and hygiene, never wording: every alt text is one line, a sentence,
with no ``<think>`` and no text copied from the prompt.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from alttext.cli import main
from alttext.model import Context, Settings
from alttext.pipeline import clean as cleaning
from alttext.pipeline.describe import describe
from alttext.pipeline.prompt import fixed_text
from tests.conftest import FIXTURES, IN_CI, REPO, require

FOLDER = os.environ.get("ALTTEXT_REAL_LLMS") or os.path.join(REPO, ".real-llms")
SMOLLM2 = os.path.join(FOLDER, "SmolLM2-135M-Instruct.Q4_1.gguf")
DRAWN = os.path.join(FIXTURES, "evidence", "images")


@pytest.fixture(scope="module")
def smollm2() -> str:
    require("gguf")
    require("accelerate")
    if not os.path.isfile(SMOLLM2):
        message = f"{SMOLLM2} not found: ../shared/tools/real-llms.sh .real-llms smollm2"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return SMOLLM2


def test_a_gguf_file_is_the_writer_and_its_alt_text_is_clean(smollm2: str) -> None:
    # The CLI test below builds the same writer settings, so the process loads the model once.
    settings = dataclasses.replace(Settings(), backend="transformers", writer_model=smollm2, captioner="none", device="cpu",
                                   cache=False, language="auto")
    images = [os.path.join(DRAWN, n) for n in ("login.png", "traffic.png", "quote.png", "zh-delete.png")] + ["", ""]
    captions = [None] * 4 + [("a dog running on the grass with a frisbee",), ("two boats tied to a wooden pier",)]
    contexts = [Context(heading="Signing in"), Context(), Context(), Context(), Context(heading="At the park"), Context()]
    results = describe(images, contexts, settings, page_languages=["en", "en", "en", "zh", "en", "en"], captions=captions)
    assert len(results) == 6 and all(r.error is None for r in results)
    assert [r.kind for r in results[:4]] == ["screenshot", "chart", "text", "screenshot"]
    for r in results:
        assert r.text or r.reason, r
        if not r.text:
            continue
        assert "\n" not in r.text and "<think>" not in r.text.lower() and "VISION_" not in r.text
        assert r.text[-1] in ".!?。！？"
        kind, given = r.kind, "\n".join(r.evidence)
        assert cleaning.echo(r.text, fixed_text(kind, r.language), given, r.language) is None, r.text
        assert r.language == "zh" or r.text[:1].isupper() or not r.text[:1].isalpha()
    assert results[4].language == "en" and results[3].language == "zh"
    assert results[3].text == "" or any("\u4e00" <= c <= "\u9fff" for c in results[3].text)  # a Chinese page gets Chinese, or none


def test_the_cli_takes_a_gguf_path_as_the_model(smollm2: str, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    image = os.path.join(DRAWN, "delete-dialog.png")
    assert main(["describe", image, "--model", smollm2, "--captioner", "none", "--device", "cpu", "--no-cache"]) == 0
    out, _ = capsys.readouterr()
    [line] = out.splitlines()
    assert line.startswith(f"{image}: ") and len(line) > len(image) + 4
