"""The status site in a real browser: Debian's chromium, headless, driven
by selenium, the site served on loopback as GitLab Pages serves it. Every
page renders; every link and image inside the site resolves; no request
leaves loopback (the browser could not resolve another host if it tried,
and its network log shows it did not); no page scrolls sideways at a
phone's width; dark mode changes the colours; axe-core (selenium-axe-python,
run offline from the package) finds no accessibility violation in either
colour scheme, contrast included."""
from __future__ import annotations

import shutil
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from selenium.webdriver.common.by import By
from selenium_axe_python import Axe

from sandbox.browser import CHROMEDRIVER, CHROMIUM, Browser, SiteServer, off_loopback
from sandbox.site_samples import sample_site
from tasks import site
from tasks.status_page import put_in_place

# The real tier: a real browser.
pytestmark = pytest.mark.real

PHONE = (375, 740)
NARROWEST = (320, 640)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    for program in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(program), f"{program} is missing: run scripts/bootstrap"
    directory = tmp_path_factory.mktemp("site") / "public"
    put_in_place(site.files(sample_site()), directory)
    with SiteServer(directory) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with Browser() as opened:
        yield opened


def crawl(browser: Browser, served: SiteServer) -> dict[str, list[str]]:
    """Every page reachable from the index, with the links out of it; a
    file that is not a page (status.json) is fetched, not shown."""
    pages, todo, outside = {}, ["index.html"], set()
    while todo:
        path = todo.pop()
        if path in pages:
            continue
        if not path.endswith(".html"):
            with urlopen(served.url + path, timeout=10) as response:
                assert response.status == 200
            pages[path] = []
            continue
        browser.open(served.url + path)
        links = [a.get_attribute("href") for a in browser.driver.find_elements(By.CSS_SELECTOR, "a[href]")]
        pages[path] = links
        for link in links:
            if link.startswith(served.url):
                todo.append(urlsplit(link).path.lstrip("/"))
            else:
                outside.add(link)
    return pages


def test_every_page_renders_and_every_link_inside_the_site_resolves(browser, served):
    pages = crawl(browser, served)

    names = [s.name for s in sample_site().services]
    assert set(pages) == {"index.html", "status.json", *(f"services/{name}.html" for name in names)}
    for path in pages:
        if not path.endswith(".html"):
            continue
        browser.open(served.url + path)
        driver = browser.driver
        assert driver.title and driver.find_element(By.TAG_NAME, "h1").is_displayed()
        # The stylesheet is applied, and every image is drawn.
        assert driver.execute_script("return getComputedStyle(document.body).maxWidth") == "960px"
        broken = driver.execute_script(
            "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
        assert broken == []
    failed = [(path, status) for path, status in served.served if status not in (200, 304)]
    assert served.served and failed == []
    # The links out of the site go to the upstreams' https pages, and were not followed.
    outside = {link for links in pages.values() for link in links if not link.startswith(served.url)}
    assert outside and all(link.startswith("https://") for link in outside)


def test_no_request_leaves_loopback(browser, served):
    for scheme in ("light", "dark"):
        browser.color_scheme(scheme)
        crawl(browser, served)
    requests = browser.requests()
    assert any(url.endswith("/style.css") for url in requests) and any(url.endswith(".svg") for url in requests)
    assert off_loopback(requests) == []
    refused = [line for line in browser.console() if "Content Security Policy" in line or "ERR_" in line]
    assert refused == []
    browser.color_scheme("light")


@pytest.mark.parametrize("width, height", [PHONE, NARROWEST])
def test_no_page_scrolls_sideways_on_a_phone(browser, served, width, height):
    browser.set_viewport(width, height, mobile=True)
    try:
        for path in ["index.html", *(f"services/{s.name}.html" for s in sample_site().services)]:
            browser.open(served.url + path)
            scroll, client = browser.driver.execute_script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert client == width and scroll <= client, f"{path}: {scroll} px wide at {width} px"
    finally:
        browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_dark_mode_changes_the_colours(browser, served):
    colours = {}
    for scheme in ("light", "dark"):
        browser.color_scheme(scheme)
        browser.open(served.url + "index.html")
        colours[scheme] = browser.driver.execute_script(
            "const s = getComputedStyle(document.body); return [s.backgroundColor, s.color]")
    browser.color_scheme("light")
    assert colours["light"] == ["rgb(255, 255, 255)", "rgb(31, 35, 40)"]
    assert colours["dark"] == ["rgb(13, 17, 23)", "rgb(230, 237, 243)"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_accessibility_violation(browser, served, scheme):
    browser.color_scheme(scheme)
    try:
        for path in ["index.html", *(f"services/{s.name}.html" for s in sample_site().services)]:
            browser.open(served.url + path)
            axe = Axe(browser.driver)
            axe.inject()
            results = axe.run()
            assert results["passes"], "axe ran no rule"
            assert results["violations"] == [], f"{path} ({scheme}):\n{Axe.report(results['violations'])}"
    finally:
        browser.color_scheme("light")
