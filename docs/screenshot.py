"""Make docs/images/review.png, the review page's picture in the README and docs/review.md.

    python3 docs/screenshot.py        (needs Chromium, chromedriver and selenium, as the browser tests)

A small page with three of fixtures/evidence's drawn pictures is fixed with ``--report`` (no
models: the text comes from the pictures' visible text), reviewed in headless Chromium (the first
entry accepted, the second one current), and the page's top is saved as a 128-colour PNG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PAGE = """# Managing your account

## Deleting a project

Open the project settings and press **Delete**. A dialog asks you to confirm:

![](img/delete-dialog.png)

## Where visitors come from

![](img/traffic.png)

---

![](img/divider.png)
"""


def main() -> int:
    sys.path.insert(0, REPO)
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from alttext.config import load_settings
    from alttext.fixing.review_server import Review, Server

    work = tempfile.mkdtemp(prefix="alttext-screenshot-")
    try:
        os.makedirs(os.path.join(work, "docs", "img"))
        for name in ("delete-dialog", "traffic", "divider"):
            shutil.copy(os.path.join(REPO, "fixtures", "evidence", "images", name + ".png"), os.path.join(work, "docs", "img"))
        with open(os.path.join(work, "docs", "guide.md"), "w", encoding="utf-8") as f:
            f.write(PAGE)
        subprocess.run([sys.executable, "-m", "alttext", "fix", "docs", "--captioner", "none", "--backend", "none", "--report", "review.json"],
                       cwd=work, check=False, capture_output=True)
        os.chdir(work)
        server = Server(Review("review.json", load_settings({})))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,1250", "--hide-scrollbars"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
        try:
            driver.get(server.url)
            time.sleep(1.5)
            body = driver.find_element("tag name", "body")
            body.send_keys("a")
            time.sleep(0.5)
            body.send_keys("j")
            time.sleep(0.3)
            driver.execute_script("window.scrollTo(0, 0)")
            shot = os.path.join(work, "shot.png")
            driver.save_screenshot(shot)
        finally:
            driver.quit()
            server.shutdown()
        out = os.path.join(HERE, "images", "review.png")
        Image.open(shot).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
        print(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
