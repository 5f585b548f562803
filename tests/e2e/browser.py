"""A real browser for the end-to-end suite: Debian's chromium driven by chromedriver through Selenium.

Why Selenium for Python: the suite is already pytest, the server fixture is already here, and
Selenium talks plain WebDriver to the distribution's chromedriver, so nothing is downloaded at
test time (Selenium Manager is bypassed by giving both binary paths).
"""

import base64
import json
import os
import shutil
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
# Test runs write under target/; `OLLAMA_DASH_SCREENSHOTS=docs/screenshots` refreshes the README's.
SCREENSHOTS = Path(__file__).resolve().parents[2] / os.environ.get("OLLAMA_DASH_SCREENSHOTS", "target/screenshots")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1360,900",
    "--force-device-scale-factor=1",
]


class Browser:
    """One chromium with a fresh profile, plus the waits and checks the tests share."""

    def __init__(self, base_url: str, dark: bool = False):
        for path in (CHROMIUM, CHROMEDRIVER):
            if not Path(path).exists():
                raise RuntimeError(f"{path} missing: apt-get install -y chromium chromium-driver")
        self.base_url = base_url
        self.profile = tempfile.mkdtemp(prefix="ollama-dash-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS + [f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        if dark:
            options.add_argument("--force-dark-mode")
            options.add_argument("--blink-settings=preferredColorScheme=0")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(60)
        self.logs: list[dict] = []

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # --- navigation -------------------------------------------------------------------------

    def open(self, path: str = "/"):
        self.driver.get(self.base_url + path)

    def sign_in(self, token: str, view: str = "/"):
        """Signs in the way `serve`'s printed link does, then goes to `view` (`#/models`…)."""
        self.open("/#token=" + token)
        self.wait_for("#view h1")
        if view != "/":
            self.go(view)

    def go(self, hash_route: str):
        self.driver.execute_script("location.hash = arguments[0]", hash_route)
        view = hash_route.strip("#/").split("/")[0] or "dashboard"
        self.wait(lambda d: d.execute_script("return document.body.dataset.view") == view, message=f"view {view}")

    # --- waiting on conditions ----------------------------------------------------------------

    def wait(self, condition, timeout: float = 20, message: str = ""):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)).until(condition, message)

    def wait_for(self, css: str, text: str | None = None, timeout: float = 20):
        """The first element matching `css` that is displayed (and contains `text`)."""

        def found(driver):
            for el in driver.find_elements(By.CSS_SELECTOR, css):
                try:
                    if el.is_displayed() and (text is None or text in el.text):
                        return el
                except Exception:  # stale while re-rendering: look again
                    return False
            return False

        return self.wait(found, timeout, f"{css!r} containing {text!r}")

    def wait_gone(self, css: str, timeout: float = 20):
        self.wait(lambda d: not [e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()], timeout, f"{css!r} still shown")

    def all(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def attrs(self, css: str, name: str) -> list:
        """One attribute of every element matching `css`, read in one go (no stale elements)."""
        return self.js("return [...document.querySelectorAll(arguments[0])].map((e) => e.getAttribute(arguments[1]))", css, name)

    def texts(self, css: str) -> list:
        return self.js("return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent.trim())", css)

    def click_button(self, css: str, text: str):
        """Clicks the first button under `css` whose text contains `text` (in the page, atomically)."""
        self.wait(lambda d: d.execute_script(
            "const b = [...document.querySelectorAll(arguments[0])].find((e) => e.textContent.includes(arguments[1]) && !e.disabled); if (b) b.click(); return !!b;",
            css, text), message=f"button {text!r} in {css!r}")

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def js_async(self, script: str, *args):
        return self.driver.execute_async_script(script, *args)

    # --- evidence -----------------------------------------------------------------------------

    def screenshot(self, name: str):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    def console_problems(self) -> list[dict]:
        """Console errors and warnings logged since the last call (network 401s from a wrong
        sign-in are the page doing its job and are filtered out by the caller when expected)."""
        entries = self.driver.get_log("browser")
        self.logs.extend(entries)
        return [e for e in entries if e["level"] in ("SEVERE", "WARNING")]

    def drop_files(self, css: str, files: list[tuple[str, bytes]], last_modified: int = 1_700_000_000_000):
        """Drops generated files on an element, as a user dragging them from a file manager."""
        payload = [(name, base64.b64encode(data).decode()) for name, data in files]
        self.js(
            """
            const [selector, files, lastModified] = arguments;
            const transfer = new DataTransfer();
            for (const [name, b64] of files) {
              const bin = atob(b64); const bytes = new Uint8Array(bin.length);
              for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
              transfer.items.add(new File([bytes], name, { type: "application/octet-stream", lastModified }));
            }
            const zone = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
              zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
            }
            """,
            css,
            payload,
            last_modified,
        )

    def choose_files(self, css: str, files: list[tuple[str, bytes, str]]):
        """Sets files on an <input type=file> as if the user picked them, and fires `change`."""
        payload = [(name, base64.b64encode(data).decode(), mime) for name, data, mime in files]
        self.js(
            """
            const [selector, files] = arguments;
            const transfer = new DataTransfer();
            for (const [name, b64, type] of files) {
              const bin = atob(b64); const bytes = new Uint8Array(bin.length);
              for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
              transfer.items.add(new File([bytes], name, { type }));
            }
            const input = document.querySelector(selector);
            input.files = transfer.files;
            input.dispatchEvent(new Event("change", { bubbles: true }));
            """,
            css,
            payload,
        )

    def performance(self) -> dict:
        """Bytes transferred (compressed, as on the wire) and first contentful paint."""
        return json.loads(
            self.js(
                """
                const nav = performance.getEntriesByType("navigation")[0];
                const res = performance.getEntriesByType("resource").filter((r) => !r.name.includes("/api/"));
                const fcp = performance.getEntriesByName("first-contentful-paint")[0];
                return JSON.stringify({
                  transfer_bytes: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
                  decoded_bytes: nav.decodedBodySize + res.reduce((s, r) => s + r.decodedBodySize, 0),
                  requests: 1 + res.length,
                  first_contentful_paint_ms: fcp ? fcp.startTime : null,
                  dom_content_loaded_ms: nav.domContentLoadedEventEnd,
                });
                """
            )
        )
