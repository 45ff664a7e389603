"""The status site, as files made from a plain model: an index of every
service, a page and a badge per service, one stylesheet, and the same data
as ``status.json``.

Pure: the model in, ``{path: bytes}`` out; what the model holds is
gathered elsewhere (``tasks.status_page``). Every value is escaped
(``html.escape``). The pages are for people who care about privacy: they
load nothing from another site (no fonts, scripts, images or styles from
elsewhere; a Content-Security-Policy says so to the browser, and links out
send no referrer), need no JavaScript, follow the reader's light or dark
setting, fit a phone's width, and are accessible: one ``h1`` and nested
headings, landmarks, tables with headers and captions, text alternatives
for the badges, and colours with enough contrast in both schemes.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

from . import badge

SHORT = 12
# A state of a service, the same word on its badge's colour and in the
# pages, furthest first; their meanings are written on the index.
STATES = {
    "current": "its published image is built from what upstream has now",
    "behind": "upstream has moved on (or its build inputs changed); a newer image is not published yet",
    "held back": "a platform failed to build or to start and waits for its next try",
    "failing": "a platform failed in the last run and is tried again on the next",
    "not published": "no image is published yet",
    "unknown": "upstream or the registry could not be asked; what is shown is what is known",
}
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
       "form-action 'none'")


@dataclass(frozen=True)
class HeldBack:
    """A platform left alone after failing, until ``next_try``."""
    stage: str            # "build" or "start check"
    attempts: int
    last_try: datetime
    next_try: datetime
    reason: str


@dataclass(frozen=True)
class Check:
    """A start check's result, as far as it is known."""
    passed: bool
    what: str             # "healthy in 2.1 s", "exited 3", …


@dataclass(frozen=True)
class Platform:
    """One platform of a service: its published image, and what became of
    its newest build."""
    platform: str
    digest: str | None = None          # the published image's manifest
    size: int | None = None            # bytes to pull: its config and layers, compressed
    check: Check | None = None         # the published image's start check
    held_back: HeldBack | None = None
    failed: str | None = None          # what failed in the last try, when it is not held back
    pending: bool = False              # a build for upstream's head is still to come
    log: tuple[str, ...] = ()          # the tail of the container's log when its start check failed


@dataclass(frozen=True)
class Service:
    name: str
    image: str                         # the repository
    upstream: str                      # the upstream's git URL
    ref: str                           # "branch main", "tag_pattern semver", …
    platforms: tuple[Platform, ...]
    head: str | None = None            # upstream's commit now, as this run saw it
    head_version: str | None = None    # its release tag, when tags are tracked
    published_commit: str | None = None
    published_version: str | None = None
    published_at: datetime | None = None
    index_digest: str | None = None
    rebuild_pending: bool = False      # same commit, new build inputs (recipe, base images)
    unknown: str | None = None         # why upstream or the registry could not be asked

    @property
    def state(self) -> str:
        if any(p.held_back for p in self.platforms):
            return "held back"
        if any(p.failed for p in self.platforms):
            return "failing"
        if self.unknown:
            return "unknown"
        if not self.published_commit:
            return "not published"
        if self.head == self.published_commit and not self.rebuild_pending:
            return "current"
        return "behind"

    @property
    def version(self) -> str | None:
        """What the badge shows of the published image."""
        return self.published_version or (self.published_commit or "")[:SHORT] or None

    @property
    def badge_message(self) -> str:
        if self.state in ("held back", "failing"):
            return self.state
        return self.version or self.state


@dataclass(frozen=True)
class Site:
    title: str
    prefix: str                        # where the images are published
    generated_at: datetime
    services: tuple[Service, ...] = field(default=())


def files(site: Site) -> dict[str, bytes]:
    """Every file of the site, by its path in the site."""
    made = {"index.html": index_page(site), "style.css": STYLE, "status.json": status_json(site)}
    for service in site.services:
        made[f"services/{service.name}.html"] = service_page(site, service)
        made[f"badges/{service.name}.svg"] = badge.badge(service.name, service.badge_message, service.state)
    return {path: text.encode() for path, text in made.items()}


# -- the pages ---------------------------------------------------------------

def index_page(site: Site) -> str:
    counts = ", ".join(f"{n} {state}" for state in STATES
                       for n in [sum(s.state == state for s in site.services)] if n)
    rows = "".join(
        "<tr>"
        f'<th scope="row"><a href="services/{_url(s.name)}.html">{_e(s.name)}</a><br>'
        f'<span class="note">{", ".join(_e(_slug(p.platform)) for p in s.platforms)}</span></th>'
        f"<td>{_state(s.state)}<br>{f'<code>{_e(s.version)}</code>' if s.version else 'none published'}</td>"
        f"<td>{_time(s.published_at) if s.published_at else 'never'}</td>"
        # The badge repeats the status and the version: for the eye, on a wide screen.
        f'<td class="wide">{_badge_img(s, "badges/", alt="")}</td>'
        "</tr>\n" for s in site.services)
    meanings = "".join(f"<dt>{_state(state)}</dt><dd>{_e(meaning)}</dd>" for state, meaning in STATES.items())
    body = f"""<h1>{_e(site.title)}</h1>
<p>{len(site.services)} service(s), published to <code>{_e(site.prefix)}</code>: {_e(counts or 'none')}.</p>
<table>
<caption>Each service's published image</caption>
<thead><tr><th scope="col">Service</th><th scope="col">Status and version</th><th scope="col">Published</th>\
<th scope="col" class="wide">Badge</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
<h2>What the states mean</h2>
<dl class="states">{meanings}</dl>
<h2>Badges</h2>
<p>Each service has a badge on this site, <code>badges/&lt;service&gt;.svg</code>: its published version, \
or <q>failing</q> or <q>held back</q>. The data of these pages is also in <a href="status.json">status.json</a>.</p>
"""
    return _page(site, site.title, body, root="")


def service_page(site: Site, service: Service) -> str:
    s = service
    published = "<p>No image is published yet.</p>" if not s.published_commit else f"""<dl>
<dt>Version</dt><dd>{_e(s.version or '')}</dd>
<dt>Upstream commit</dt><dd>{_commit(s.upstream, s.published_commit)}</dd>
<dt>Published</dt><dd>{_time(s.published_at) if s.published_at else 'not known'}</dd>
<dt>Image index</dt><dd><code>{_e(s.index_digest or '')}</code></dd>
</dl>
<p>To pull it:</p>
<pre><code>docker pull {_e(s.image)}:latest</code></pre>
<p>or by its digest, to get exactly this image:</p>
<pre><code>docker pull {_e(s.image)}@{_e(s.index_digest or '')}</code></pre>"""
    rows = "".join(
        "<tr>"
        f'<th scope="row">{_e(p.platform)}</th>'
        f"<td>{f'<code>{_e(p.digest)}</code>' if p.digest else 'none published'}</td>"
        f"<td>{_size(p.size) if p.size is not None else ''}</td>"
        f"<td>{_check(p.check) if p.digest else ''}</td>"
        "</tr>\n" for p in s.platforms)
    body = f"""<p><a href="../index.html">All images</a></p>
<h1>{_e(s.name)}</h1>
<p>{_badge_img(s, '../badges/')}</p>
<p>{_state(s.state)}: {_e(_summary(s))}</p>
<h2>Published image</h2>
<p>Image <code>{_e(s.image)}</code></p>
{published}
<h2>Platforms</h2>
<table>
<caption>{_e(s.name)}'s image for each platform</caption>
<thead><tr><th scope="col">Platform</th><th scope="col">Image digest</th><th scope="col">Size</th>\
<th scope="col">Start check</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
{_newest_build(s)}
<h2>Upstream</h2>
<dl>
<dt>Repository</dt><dd>{_repository(s.upstream)}</dd>
<dt>Tracked</dt><dd>{_e(s.ref)}</dd>
<dt>Upstream now</dt><dd>{_head(s)}</dd>
<dt>How far behind</dt><dd>{_e(_behind(s))}</dd>
</dl>
"""
    return _page(site, f"{s.name} · {site.title}", body, root="../")


def _newest_build(s: Service) -> str:
    """What became of the newest build, per platform: held back, failed,
    or still to come."""
    items = []
    for p in s.platforms:
        if p.held_back:
            h = p.held_back
            text = (f"{_e(p.platform)}: held back. Its {_e(h.stage)} failed {h.attempts} time(s) in a row, "
                    f"last at {_time(h.last_try)}: {_e(h.reason)}. Tried again after {_time(h.next_try)}, "
                    "or at once when upstream, the recipe or the start check changes, or a retry is asked for.")
        elif p.failed:
            text = f"{_e(p.platform)}: failed in the last try: {_e(p.failed)}. Tried again on the next run."
        elif p.pending:
            text = f"{_e(p.platform)}: a build of upstream's head is to come on the next run."
        else:
            continue
        log = f"<pre><code>{_e(chr(10).join(p.log))}</code></pre>" if p.log else ""
        items.append(f"<li><p>{text}</p>{log}</li>")
    if not items:
        return ""
    return f"<h2>Newest build</h2>\n<ul>{''.join(items)}</ul>"


def _summary(s: Service) -> str:
    state = s.state
    if state == "unknown":
        return f"what is published now could not be learned: {s.unknown}"
    if state == "not published":
        return "no image is published yet."
    if state == "current":
        return "the published image is built from upstream's commit as it is now."
    if state == "held back":
        held = [p.platform for p in s.platforms if p.held_back]
        return f"{', '.join(held)} failed and {'is' if len(held) == 1 else 'are'} held back; " \
               "the last published image stays as it is."
    if state == "failing":
        failed = [p.platform for p in s.platforms if p.failed]
        return f"{', '.join(failed)} failed in the last try; the last published image stays as it is."
    if s.rebuild_pending and s.head == s.published_commit:
        return "the recipe or a base image changed; the new image is not published yet."
    return "upstream has moved on; the new image is not published yet."


def _behind(s: Service) -> str:
    """How far the published image is behind upstream, as far as known:
    only upstream's head is looked up, never its history."""
    if s.head is None:
        return f"not known: {s.unknown}" if s.unknown else "not known"
    if not s.published_commit:
        return "nothing is published yet"
    if s.head == s.published_commit:
        return "not behind: the published commit is upstream's" + (
            " (a rebuild for new build inputs is to come)" if s.rebuild_pending else "")
    newer = f" (release {s.head_version})" if s.head_version and s.head_version != s.published_version else ""
    return (f"behind: upstream is at {s.head[:SHORT]}{newer}, the image at {s.published_commit[:SHORT]}; "
            "how many commits lie between is not known (only upstream's head is looked up)")


def _head(s: Service) -> str:
    if s.head is None:
        return "not known"
    version = f" ({_e(s.head_version)})" if s.head_version else ""
    return _commit(s.upstream, s.head) + version


# -- pieces ------------------------------------------------------------------

def _page(site: Site, title: str, body: str, root: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<title>{_e(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}style.css">
</head>
<body>
<header><p><a href="{root}index.html">{_e(site.title)}</a></p></header>
<main>
{body}</main>
<footer><p>Written by privacy-oci's <code>status-page</code> task at {_time(site.generated_at)}, \
from the catalogue, the registry and the last run's report. Nothing on these pages is loaded from \
another site.</p></footer>
</body>
</html>
"""


def _e(text: object) -> str:
    return escape(str(text))


def _url(text: str) -> str:
    return escape(quote(text))


def _slug(platform: str) -> str:
    return platform.split("/", 1)[1] if platform.startswith("linux/") else platform


def _state(state: str) -> str:
    return f'<strong class="state-{state.replace(" ", "-")}">{_e(state)}</strong>'


def _badge_img(s: Service, prefix: str, alt: str | None = None) -> str:
    """The service's badge; ``alt`` empty where the text beside it says the same."""
    width = badge.text_width(s.name) + badge.text_width(s.badge_message) + 4 * badge.PADDING
    alt = f"{s.name}: {s.badge_message}" if alt is None else alt
    return (f'<img class="badge" src="{prefix}{_url(s.name)}.svg" width="{width}" height="{badge.HEIGHT}" '
            f'alt="{_e(alt)}">')


def _time(moment: datetime) -> str:
    return (f'<time datetime="{moment.strftime("%Y-%m-%dT%H:%M:%SZ")}">'
            f'{moment.strftime("%Y-%m-%d %H:%M UTC")}</time>')


def _size(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""   # (not reached)


def _check(check: Check | None) -> str:
    if check is None:
        return "not known"
    return f"{'passed' if check.passed else 'failed'}: {_e(check.what)}"


def web_url(upstream: str) -> str | None:
    """The upstream's web page, when its URL is one (https, not a git
    address): links out are only made to https pages."""
    parts = urlsplit(upstream)
    if parts.scheme != "https" or not parts.netloc or parts.username or parts.password:
        return None
    return upstream.removesuffix(".git").rstrip("/")


def commit_url(upstream: str, commit: str) -> str | None:
    """A commit's page on the upstream's forge, for the forges whose
    address of a commit is known; None for any other."""
    base = web_url(upstream)
    if base is None:
        return None
    host = urlsplit(base).netloc.lower()
    if host == "gitlab.com" or host.startswith("gitlab."):
        return f"{base}/-/commit/{commit}"
    if host in ("github.com", "codeberg.org", "git.sr.ht", "gitea.com") or host.startswith(("gitea.", "forgejo.")):
        return f"{base}/commit/{commit}"
    return None


def _link(url: str, text: str) -> str:
    return f'<a href="{_e(url)}" rel="noreferrer noopener">{text}</a>'


def _commit(upstream: str, commit: str) -> str:
    text = f"<code>{_e(commit[:SHORT])}</code>"
    url = commit_url(upstream, commit)
    return _link(url, text) + f" <span class=\"note\">({_e(commit)})</span>" if url else \
        f"<code>{_e(commit)}</code>"


def _repository(upstream: str) -> str:
    url = web_url(upstream)
    return _link(url, _e(url)) if url else f"<code>{_e(upstream)}</code>"


def status_json(site: Site) -> str:
    def plain(value: Any) -> Any:   # the model's values as JSON's
        if isinstance(value, datetime):
            return value.isoformat(timespec="seconds")
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    services = [{**plain(asdict(s)), "state": s.state} for s in site.services]
    return json.dumps({"title": site.title, "prefix": site.prefix,
                       "generated_at": plain(site.generated_at), "services": services}, indent=2) + "\n"


STYLE = """\
:root {
  color-scheme: light dark;
  --ground: #ffffff; --text: #1f2328; --muted: #57606a; --link: #0550ae;
  --line: #d0d7de; --code: #f6f8fa;
  --current: #1a7f37; --behind: #7d4e00; --held-back: #a0400a; --failing: #c21d2a;
}
@media (prefers-color-scheme: dark) {
  :root {
    --ground: #0d1117; --text: #e6edf3; --muted: #9198a1; --link: #58a6ff;
    --line: #3d444d; --code: #161b22;
    --current: #3fb950; --behind: #d29922; --held-back: #f0883e; --failing: #ff7b72;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0 auto; max-width: 60rem; padding: 0 1rem 2rem;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  line-height: 1.5; background: var(--ground); color: var(--text); overflow-wrap: break-word;
}
a { color: var(--link); }
header { border-bottom: 1px solid var(--line); }
footer { border-top: 1px solid var(--line); margin-top: 2rem; color: var(--muted); font-size: .9rem; }
h1 { font-size: 1.8rem; line-height: 1.2; }
h2 { font-size: 1.3rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; font-weight: bold; padding: .4rem 0; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem .4rem 0; border-bottom: 1px solid var(--line); }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; overflow-wrap: anywhere; }
pre { background: var(--code); padding: .5rem; white-space: pre-wrap; overflow-wrap: anywhere; }
img { max-width: 100%; height: auto; vertical-align: middle; }
img.badge { max-width: none; }
th .note { font-weight: normal; }
@media (max-width: 40rem) {
  body { padding: 0 .75rem 2rem; }
  table { font-size: .875rem; }
  th, td { padding-right: .35rem; }
  .wide { display: none; }
}
dt { font-weight: bold; }
dd { margin: 0 0 .5rem 0; }
.note { color: var(--muted); font-size: .9em; }
.state-current { color: var(--current); }
.state-behind { color: var(--behind); }
.state-held-back { color: var(--held-back); }
.state-failing { color: var(--failing); }
.state-not-published, .state-unknown { color: var(--muted); }
"""
