"""A real browser for the status site: Debian's chromium, headless, driven
by selenium through Debian's chromedriver, and a static file server on
loopback to serve a site folder to it, as GitLab Pages serves ``public/``.

The browser reaches nothing but loopback: every host name but localhost
resolves to nothing (``--host-resolver-rules``), its own background
traffic (updates, safe browsing, sync) is off, and every request the pages
make is read back from its network log (``requests``), so a test can show
that none left loopback, rather than assume it.
"""
from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from .http import Closing, LoopbackServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
         # Nothing but loopback: no name resolves, localhost excepted.
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
         "--metrics-recording-only", "--disable-domain-reliability", "--hide-scrollbars",
         "--force-device-scale-factor=1")


class SiteServer(Closing):
    """Serves ``directory`` on loopback; ``served`` lists (path, status) of
    every request answered."""

    def __init__(self, directory: Path):
        self.served: list[tuple[str, int]] = []
        lock = threading.Lock()
        served = self.served

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def log_request(self, code="-", size="-"):
                with lock:
                    served.append((self.path, int(getattr(code, "value", code))))

        self._server = LoopbackServer(partial(Handler, directory=str(directory)))
        self.url = self._server.url + "/"

    def close(self) -> None:
        self._server.close()


class Browser(Closing):
    """``with Browser() as browser:`` a headless chromium of its own."""

    def __init__(self, width: int = 1024, height: int = 768):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self._requests: list[str] = []

    def close(self) -> None:
        self.driver.quit()

    def open(self, url: str) -> None:
        self.driver.get(url)

    def requests(self) -> list[str]:
        """Every URL the browser asked for so far (pages, styles, images,
        icons), from its network log."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self._requests.append(message["params"]["request"]["url"])
        return list(self._requests)

    def console(self) -> list[str]:
        """What the pages said on the console (a refused load, a CSP report)."""
        return [entry["message"] for entry in self.driver.get_log("browser")]

    def set_viewport(self, width: int, height: int, mobile: bool = False) -> None:
        """The page's width in CSS pixels, as a phone of that width shows it."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def color_scheme(self, scheme: str) -> None:
        """``light`` or ``dark``: what ``prefers-color-scheme`` answers."""
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-color-scheme", "value": scheme}]})

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        """A PNG of the page; the whole page's height when ``full_page``."""
        if full_page:
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            width = self.driver.execute_script("return document.documentElement.clientWidth")
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        Path(path).write_bytes(self.driver.get_screenshot_as_png())


def off_loopback(urls) -> list[str]:
    """The URLs among ``urls`` whose host is not on loopback (``data:`` and
    ``about:`` ask no host)."""
    outside = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "about", "chrome", "blob"):
            continue
        host = parts.hostname or ""
        if not (host == "localhost" or host.startswith("127.") or host == "::1"):
            outside.append(url)
    return outside


def screenshot(site: Path, target: Path, page: str = "index.html", width: int = 1024) -> None:
    """A PNG of one page of the site in ``site``, served on loopback, at
    ``width`` CSS pixels and the page's whole height."""
    with SiteServer(site) as server, Browser(width=width) as browser:
        browser.open(server.url + page)
        browser.screenshot(target)
        outside = off_loopback(browser.requests())
        if outside:
            raise SystemExit(f"the page asked for {outside}")


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="A screenshot of a status site's page, in headless chromium.")
    parser.add_argument("site", type=Path, help="the site's folder, e.g. DIR/catalogue/checkout/.work/site")
    parser.add_argument("target", type=Path, help="the PNG to write")
    parser.add_argument("--page", default="index.html")
    parser.add_argument("--width", type=int, default=1024)
    options = parser.parse_args()
    screenshot(options.site, options.target, options.page, options.width)
    print(f"{options.target}: {options.page} of {options.site} at {options.width} px")
