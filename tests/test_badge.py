"""A service's badge: well-formed SVG that names itself, its text escaped,
white text on grounds dark enough to read it (WCAG AA, 4.5:1)."""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from tasks.badge import GROUNDS, LABEL_GROUND, TEXT, badge, text_width

SVG = "{http://www.w3.org/2000/svg}"


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("ground", [LABEL_GROUND, *GROUNDS.values()])
def test_the_text_is_readable_on_every_ground(ground):
    assert contrast(TEXT, ground) >= 4.5


def test_a_badge_is_svg_that_names_itself_with_its_text_escaped():
    svg = badge("hello-web", 'v1 <"&">', "current")
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-label") == root.find(f"{SVG}title").text == 'hello-web: v1 <"&">'
    assert [t.text for t in root.iter(f"{SVG}text")] == ["hello-web", 'v1 <"&">']
    assert root.find(f"{SVG}rect[2]").get("fill") == GROUNDS["current"]
    assert int(root.get("width")) == text_width("hello-web") + text_width('v1 <"&">') + 24
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")   # no font, no image from elsewhere


def test_every_state_has_its_ground():
    for state in ("current", "behind", "held back", "failing", "not published", "unknown"):
        assert badge("s", state, state)
