"""A badge: a small SVG image of a label and a message on coloured ground,
as the status site shows one per service (``badges/<service>.svg``).

Pure: text in, SVG text out, every value escaped. No font is loaded: the
text is drawn in the reader's own sans-serif, and ``textLength`` fits it to
the width estimated here, so a wider font cannot spill over the ground.
The colours are dark enough for white text (WCAG contrast 4.5:1 or more,
checked in the tests), and the image names itself (``role="img"``, a
``<title>``) for screen readers.
"""
from __future__ import annotations

from html import escape

LABEL_GROUND = "#32383f"
# The message's ground for each state of a service (see tasks/site.py).
GROUNDS = {
    "current": "#1a7f37",
    "behind": "#7d4e00",
    "held back": "#a0400a",
    "failing": "#c21d2a",
    "not published": "#57606a",
    "unknown": "#57606a",
}
TEXT = "#ffffff"
HEIGHT = 20
PADDING = 6
FONT_SIZE = 11
# Rough widths at 11 px in a sans-serif such as Verdana or DejaVu Sans.
NARROW, WIDE = set("fijlrt1.,:;'|!() "), set("mwMW@%")


def text_width(text: str) -> int:
    """An estimate of ``text``'s width in pixels at FONT_SIZE."""
    return round(sum(4 if c in NARROW else 10 if c in WIDE else 8 if c.isupper() else 7 for c in text))


def badge(label: str, message: str, state: str) -> str:
    """An SVG badge: ``label`` on dark grey, ``message`` on the colour of
    ``state`` (one of GROUNDS)."""
    left, right = text_width(label) + 2 * PADDING, text_width(message) + 2 * PADDING
    width = left + right
    title = f"{label}: {message}"
    return "".join((
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
        f'viewBox="0 0 {width} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{left}" height="{HEIGHT}" fill="{LABEL_GROUND}"/>',
        f'<rect x="{left}" width="{right}" height="{HEIGHT}" fill="{GROUNDS[state]}"/>',
        f'<g fill="{TEXT}" font-family="Verdana,\'DejaVu Sans\',sans-serif" font-size="{FONT_SIZE}">',
        _text(label, PADDING, left - 2 * PADDING),
        _text(message, left + PADDING, right - 2 * PADDING),
        "</g></svg>\n"))


def _text(text: str, x: int, length: int) -> str:
    return (f'<text x="{x}" y="14" textLength="{max(length, 1)}" lengthAdjust="spacingAndGlyphs">'
            f"{escape(text)}</text>")
