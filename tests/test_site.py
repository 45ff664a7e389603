"""The status site as files, from a model with a service in every state:
strictly valid HTML (html5lib's strict parser), every value escaped, every
link and image inside the site resolving, nothing loaded from elsewhere,
headings in order, tables with headers. (tests/test_site_in_a_browser.py
renders the same site in a real browser.)"""
from __future__ import annotations

import json
import posixpath
import re

import html5lib
import pytest

from sandbox.site_samples import sample_site
from tasks import site
from tasks.site import commit_url

FILES = site.files(sample_site())
PAGES = {path: content.decode() for path, content in FILES.items() if path.endswith(".html")}


def elements(path: str):
    return html5lib.parse(PAGES[path], namespaceHTMLElements=False)


@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_is_strictly_valid_html(path):
    html5lib.HTMLParser(strict=True).parse(PAGES[path])


def test_a_page_per_service_and_a_badge_each():
    names = [s.name for s in sample_site().services]
    assert set(FILES) == {"index.html", "style.css", "status.json",
                          *(f"services/{n}.html" for n in names), *(f"badges/{n}.svg" for n in names)}


def test_every_state_is_shown_and_said_on_the_badge():
    states = {s.name: (s.state, s.badge_message) for s in sample_site().services}
    assert states == {"redlib": ("current", "010101010101"), "rimgo": ("behind", "v1.3.2"),
                      "nitter": ("held back", "held back"), "scribe": ("failing", "failing"),
                      "bibliogram": ("not published", "not published"), "hello-web": ("unknown", "0b0b0b0b0b0b")}
    index = PAGES["index.html"]
    for state, _ in states.values():
        assert f">{state}</strong>" in index


@pytest.mark.parametrize("path", sorted(PAGES))
def test_links_and_images_inside_the_site_resolve_and_nothing_is_loaded_from_elsewhere(path):
    tree = elements(path)
    for element in tree.iter():
        for attribute in ("href", "src"):
            target = element.get(attribute)
            if target is None:
                continue
            if element.tag == "a" and target.startswith("https://"):
                assert element.get("rel") == "noreferrer noopener"   # a link out, never a load
                continue
            if target == "data:,":    # the empty icon: no request for /favicon.ico
                continue
            assert "//" not in target and not target.startswith(("/", "http:", "data:")), target
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            assert resolved in FILES, f"{path}: {target}"
    assert 'http-equiv="Content-Security-Policy"' in PAGES[path]
    assert "default-src 'none'" in site.CSP and "script-src" not in site.CSP
    assert '<meta name="referrer" content="no-referrer">' in PAGES[path]
    assert "<script" not in PAGES[path]


@pytest.mark.parametrize("path", sorted(PAGES))
def test_one_h1_headings_in_order_tables_with_headers(path):
    tree = elements(path)
    levels = [int(e.tag[1]) for e in tree.iter() if re.fullmatch(r"h[1-6]", str(e.tag))]
    assert levels.count(1) == 1 and levels[0] == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    assert tree.find(".//main") is not None and tree.tag == "html" and tree.get("lang") == "en"
    for table in tree.iter("table"):
        assert table.find("caption") is not None
        assert all(th.get("scope") in ("col", "row") for th in table.iter("th"))
        for row in table.find("tbody").iter("tr"):
            assert row[0].tag == "th"
    for image in tree.iter("img"):
        assert image.get("alt") is not None


def test_text_from_outside_is_escaped():
    nitter = PAGES["services/nitter.html"]
    assert "exited 1 &lt;no config&gt; &amp; &quot;quotes&quot;" in nitter
    assert "&lt;exit&gt;" in nitter and "<no config>" not in nitter and "<exit>" not in nitter
    assert "&lt;file:///srv/upstreams/hello-web/repo.git&gt;" in PAGES["services/hello-web.html"]


def test_a_service_page_says_what_the_issue_asks():
    nitter = PAGES["services/nitter.html"]
    for text in ("linux/amd64", "linux/arm64", "sha256:0505", "50.0 MiB", "passed: healthy in 3.0 s",
                 "docker pull registry.example.org/privacy/privacy-oci/nitter:latest",
                 "held back. Its start check failed 2 time(s) in a row", "2026-11-30 06:50 UTC",
                 'href="https://github.com/zedeus/nitter/commit/0404040404040404040404040404040404040404"',
                 "behind: upstream is at 050505050505, the image at 040404040404",
                 "how many commits lie between is not known"):
        assert text in nitter, text
    assert "a build of upstream's head is to come" in PAGES["services/bibliogram.html"]
    assert "failed in the last try: its build, 1 time(s) in a row: exit 2" in PAGES["services/scribe.html"]
    assert "(release v1.4.0)" in PAGES["services/rimgo.html"]
    assert "not behind: the published commit is upstream&#x27;s" in PAGES["services/redlib.html"]


def test_commit_links_only_where_the_forge_is_known():
    commit = "ab" * 20
    assert commit_url("https://github.com/zedeus/nitter", commit) == f"https://github.com/zedeus/nitter/commit/{commit}"
    assert commit_url("https://gitlab.com/a/b.git", commit) == f"https://gitlab.com/a/b/-/commit/{commit}"
    assert commit_url("https://codeberg.org/rimgo/rimgo", commit).endswith(f"/rimgo/commit/{commit}")
    assert commit_url("https://git.sr.ht/~cadence/bibliogram", commit).endswith(f"/bibliogram/commit/{commit}")
    for elsewhere in ("https://git.example.org/x", "http://github.com/a/b", "file:///srv/x.git",
                      "git@github.com:a/b.git", "https://user:secret@github.com/a/b"):
        assert commit_url(elsewhere, commit) is None


def test_status_json_holds_the_same_data():
    data = json.loads(FILES["status.json"])
    assert [s["state"] for s in data["services"]] == [s.state for s in sample_site().services]
    nitter = next(s for s in data["services"] if s["name"] == "nitter")
    assert nitter["platforms"][1]["held_back"]["next_try"] == "2026-11-30T06:50:00+00:00"


def test_dark_mode_and_a_phones_width_are_in_the_stylesheet():
    style = FILES["style.css"].decode()
    assert "@media (prefers-color-scheme: dark)" in style and "color-scheme: light dark" in style
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in PAGES["index.html"]
