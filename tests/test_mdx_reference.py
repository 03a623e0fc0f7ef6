"""alttext's MDX engine against @mdx-js/mdx itself: the same images, and the same ones without alt.

The reference is the real compiler (tests/mdx/render.mjs, pinned in tests/mdx/package-lock.json).
Without Node or ``npm ci --prefix tests/mdx`` the test is skipped, and fails instead under
``ALTTEXT_CI=1``, so CI cannot pass it by not running it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from urllib.parse import unquote

import pytest

from alttext.scan.events import ImageEvent
from alttext.scan.markdown import scan_markdown

MDX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mdx")

# Every case must compile as MDX. JSX images here have no alt or a non-empty one: alt="" is
# decorative to alttext (an HTML rule), while MDX only tells that the attribute is empty.
CASES = [
    # The two from issue #24.
    pytest.param("<figure>![](x.png)<figcaption>A caption</figcaption></figure>\n", id="image-after-jsx-tag"),
    pytest.param("Intro.\n\n![](<a b.png>)\n", id="angle-bracket-destination"),
    pytest.param("<figure style={{margin: 0}}>![](<my pic.png>)<figcaption>{props.caption}</figcaption></figure>\n", id="both-with-expressions"),
    pytest.param("<Tabs>\n  <TabItem value=\"a\">\n    ![](<a b.png>)\n  </TabItem>\n</Tabs>\n", id="angle-bracket-in-nested-jsx"),
    # Ordinary documents.
    pytest.param("# Title\n\n![](a.png) and ![A cat](b.png \"Title\")\n", id="markdown-images"),
    pytest.param("- ![](a.png)\n\n> ![](b.png)\n", id="list-and-quote"),
    pytest.param("[![](a.png)](/home)\n", id="linked"),
    pytest.param("    ![](a.png)\n", id="no-indented-code"),
    pytest.param("<div>\n![](a.png)\n</div>\n", id="markdown-in-jsx"),
    pytest.param('<img src="k.png" />\n\n<img src="l.png" alt="A key" />\n', id="jsx-img"),
    pytest.param("```md\n![](a.png)\n```\n\nUse `![](b.png)`.\n", id="code-is-not-an-image"),
    pytest.param("{/* ![](c.png) */}\n\n![](d.png)\n", id="jsx-comment"),
    pytest.param("import X from './x.js'\n\n![](a.png)\n", id="import"),
    pytest.param("export const m = {\n  a: '![](x.png)',\n}\n\n![B](b.png)\n", id="export-block"),
    pytest.param("To show it,\nimport the file first: ![](a.png)\n", id="import-word-in-a-paragraph"),
    pytest.param("![](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=) ![](javascript:alert(1)) ![](file:///a.png)\n", id="any-scheme"),
    pytest.param(">" * 25 + " ![](a.png)\n", id="deep-block-quote"),
]


def _reference_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not os.path.isdir(os.path.join(MDX, "node_modules", "@mdx-js", "mdx")):
        return "tests/mdx/node_modules is absent; run: npm ci --prefix tests/mdx"
    return None


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, str | None]]]:
    """What @mdx-js/mdx renders for every case, from one Node process."""
    missing = _reference_missing()
    if missing:
        if os.environ.get("ALTTEXT_CI") == "1":
            pytest.fail(f"the @mdx-js/mdx reference is required under ALTTEXT_CI=1: {missing}")
        pytest.skip(missing)
    docs = [p.values[0] for p in CASES]
    run = subprocess.run(["node", os.path.join(MDX, "render.mjs"), "--batch"], input=json.dumps(docs),
                         capture_output=True, text=True, encoding="utf-8", timeout=120, check=True)
    return dict(zip(docs, json.loads(run.stdout)))


@pytest.mark.parametrize("mdx", CASES)
def test_same_images_as_mdx_js(mdx: str, rendered: dict[str, list[dict[str, str | None]]]) -> None:
    images = rendered[mdx]
    assert isinstance(images, list), images  # {"error": ...}: the case is not valid MDX
    # MDX percent-encodes destinations; alttext reports them as written.
    theirs = [(unquote(i["src"] or ""), not (i["alt"] or "").strip()) for i in images]
    ours = [(unquote(e.src), e.verdict.rule is not None) for e in scan_markdown(mdx, engine="mdx") if isinstance(e, ImageEvent)]
    assert ours == theirs
