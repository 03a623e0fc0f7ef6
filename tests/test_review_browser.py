"""``alttext review`` in a real browser: headless Chromium from Debian's packages, driven by
Selenium through Debian's chromedriver (``apt-get install chromium chromium-driver``; ``pip install
selenium``). Skipped where they are missing, except in CI (``ALTTEXT_CI=1``), which installs them.

Screenshots go to ``$ALTTEXT_ARTIFACTS`` (CI sets it to ``test-artifacts/``), or the test's
temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alttext.cli import main
from alttext.config import load_settings
from alttext.fixing.review_server import Review, Server
from tests.conftest import IN_CI
from tests.test_review_server import PAGE_HTML, PAGE_MD, entries, index_of, site  # noqa: F401 - the fixture

ARTIFACTS = os.environ.get("ALTTEXT_ARTIFACTS", "")  # read at import: the conftest fixture clears ALTTEXT_* per test
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: os.PathLike[str]) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed: pip install selenium")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        _missing("Chromium is not installed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600"):
        options.add_argument(argument)
    downloads = os.path.join(str(tmp_path), "downloads")
    os.makedirs(downloads)
    options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def artifact(driver: Any, name: str, tmp_path: os.PathLike[str]) -> None:
    folder = ARTIFACTS or str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    driver.save_screenshot(os.path.join(folder, name))


def until(condition: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def hostile_report() -> None:
    """A model's answer holding markup, as a report may carry it."""
    with open("report.json", encoding="utf-8") as f:
        data = json.load(f)
    data["entries"][index_of("page.md", "img/blue.png")]["caption"] = HOSTILE
    data["entries"][index_of("page.md", "img/blue.png")]["alt"] = HOSTILE
    data["entries"][index_of("page.html", "img/blue.png")]["needs_review"] = False
    with open("report.json", "w", encoding="utf-8") as f:
        json.dump(data, f)


def card(driver: Any, index: int) -> Any:
    return driver.find_element("id", f"entry-{index}")


def test_review_in_the_browser_edits_accepts_marks_decorative_and_applies(site: str, browser: Any,  # noqa: F811
                                                                          tmp_path: os.PathLike[str]) -> None:
    from selenium.webdriver.common.keys import Keys

    hostile_report()
    server = Server(Review("report.json", load_settings({})))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(server.url)
        until(lambda: len(browser.find_elements("css selector", ".card")) == len(entries()))
        artifact(browser, "review-page.png", tmp_path)
        md_red, md_blue = index_of("page.md", "img/red.png"), index_of("page.md", "img/blue.png")
        html_red, html_blue = index_of("page.html", "img/red.png"), index_of("page.html", "img/blue.png")

        # The model's markup is text: in the box, on the page, and nothing of it ran.
        assert card(browser, md_blue).find_element("css selector", "textarea").get_property("value") == HOSTILE
        assert HOSTILE in card(browser, md_blue).text
        assert browser.execute_script("return window.pwned") is None
        assert not browser.find_elements("css selector", "main script, main img[src='x']")
        # Pictures are shown from the server.
        assert until(lambda: browser.execute_script(
            f"const i = document.querySelector('#entry-{md_red} img'); return i && i.complete && i.naturalWidth"))

        # The filter: only what needs review.
        browser.find_element("id", "only-review").click()
        shown = [c for c in browser.find_elements("css selector", ".card") if c.is_displayed()]
        assert len(shown) == len(entries()) - 1 and card(browser, html_blue) not in shown
        browser.find_element("id", "only-review").click()
        assert all(c.is_displayed() for c in browser.find_elements("css selector", ".card"))

        # Edit one alt text and accept it with the mouse.
        box = card(browser, md_red).find_element("css selector", "textarea")
        box.clear()
        box.send_keys("A red rectangle.")
        next(b for b in card(browser, md_red).find_elements("tag name", "button") if b.text == "Accept").click()
        until(lambda: entries()[md_red].get("review") == "accepted")
        assert entries()[md_red]["alt"] == "A red rectangle."

        # Accept another and mark a third decorative from the keyboard: j/k move, a and d decide.
        body = browser.find_element("tag name", "body")
        box.send_keys(Keys.ESCAPE)
        for _ in range(len(entries())):
            body.send_keys("k")
        for _ in range(html_blue):
            body.send_keys("j")
        box = card(browser, html_blue).find_element("css selector", "textarea")
        box.send_keys(Keys.ESCAPE)
        assert "current" in card(browser, html_blue).get_attribute("class")
        browser.execute_script(f"document.querySelector('#entry-{html_blue} textarea').value = 'A small blue square.'")
        body.send_keys("a")
        until(lambda: entries()[html_blue].get("review") == "accepted")
        body.send_keys("k" * (html_blue - html_red) if html_blue > html_red else "j" * (html_red - html_blue))
        until(lambda: "current" in card(browser, html_red).get_attribute("class"))
        body.send_keys("d")
        until(lambda: entries()[html_red].get("review") == "decorative")
        assert until(lambda: "3 decided" in browser.find_element("id", "counts").text)
        assert [e.get("review") for e in entries()].count(None) == len(entries()) - 3
        artifact(browser, "review-decided.png", tmp_path)

        # Apply: only the decided entries are written, byte-exact.
        browser.find_element("id", "apply").click()
        lines = until(lambda: browser.find_element("id", "applied-lines").text)
        artifact(browser, "review-applied.png", tmp_path)
        assert "marked decorative" in lines and "A red rectangle." in lines
        with open("page.md", "rb") as f:
            assert f.read() == PAGE_MD.replace(b"![](img/red.png)", b"![A red rectangle.](img/red.png)")
        with open("page.html", "rb") as f:
            assert f.read() == PAGE_HTML.replace(b'<img src="img/red.png">', b'<img src="img/red.png" alt="">').replace(
                b'<img src="img/blue.png">', b'<img src="img/blue.png" alt="A small blue square.">')
    finally:
        server.shutdown()
        server.server_close()


def test_the_export_works_without_a_network_and_downloads_a_report_for_apply(site: str, browser: Any,  # noqa: F811
                                                                             tmp_path: os.PathLike[str],
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    hostile_report()
    export = os.path.join(str(tmp_path), "review.html")
    assert main(["review", "report.json", "--export", export]) == 0
    capsys.readouterr()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions",
                            {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    browser.get("file://" + export)
    until(lambda: len(browser.find_elements("css selector", ".card")) == len(entries()))
    md_red, md_blue = index_of("page.md", "img/red.png"), index_of("page.md", "img/blue.png")
    assert until(lambda: browser.execute_script(
        f"const i = document.querySelector('#entry-{md_red} img'); return i && i.complete && i.naturalWidth")) == 320
    assert browser.execute_script("return window.pwned") is None
    assert card(browser, md_blue).find_element("css selector", "textarea").get_property("value") == HOSTILE
    artifact(browser, "review-export.png", tmp_path)

    box = card(browser, md_red).find_element("css selector", "textarea")
    box.clear()
    box.send_keys("A red rectangle.")
    next(b for b in card(browser, md_red).find_elements("tag name", "button") if b.text == "Accept").click()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": browser.downloads})
    browser.find_element("id", "apply").click()
    downloaded = os.path.join(browser.downloads, "reviewed.json")
    until(lambda: os.path.exists(downloaded) and os.path.getsize(downloaded) > 0)
    with open(downloaded, encoding="utf-8") as f:
        reviewed = json.load(f)
    # Only what was decided goes in, as the entries of the report it came from.
    [entry] = reviewed["entries"]
    assert entry == {**entries()[md_red], "review": "accepted", "alt": "A red rectangle."}
    # The downloaded report is one alttext apply takes.
    assert main(["apply", downloaded, "--exit-zero-even-if-changed"]) == 0
    with open("page.md", "rb") as f:
        assert f.read() == PAGE_MD.replace(b"![](img/red.png)", b"![A red rectangle.](img/red.png)")
