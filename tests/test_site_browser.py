"""The built site in a real browser: headless Chromium driven by Playwright, on every page of the book,
each page opened twice, as a file (file://) and served over HTTP (Python's http.server on a free port).

One test per page and check; a failure names the page, the check and the way the page was opened:

- ``console``: no console error and no uncaught exception;
- ``requests``: no failed request (a missing file, an HTTP status of 400 or more) and no request that leaves
  the site (the site is built to work offline, MathJax included);
- ``images``: every ``<img>`` on the page has loaded (``naturalWidth > 0``);
- ``figures``: every ``<figure>`` has a caption with text and a "Fig. N" number, and every image in the
  article is inside such a figure. "Every figure" is every picture a chapter shows: the notebooks glue their
  plots as labelled figures, so an image in the article outside a numbered, captioned figure (a bare
  matplotlib output, say) is a figure that the text cannot cite, and fails. Images outside the article
  (the theme's own) only have to load;
- ``math``: every math element Sphinx writes (``span.math``, ``div.math``) was typeset by MathJax (it holds an
  ``mjx-container``), MathJax reports no TeX error (an ``merror``, or an undefined macro shown in red), and no
  raw ``$...$``, ``$$...$$``, ``\\(``, ``\\[`` or ``\\begin{`` is left in the page's text outside code;
- ``links``: every link into the site points to a file that exists and, with an anchor, to an id that exists
  in the target page (links to other sites are not followed: the checks run offline).

Besides: the search page, opened as ``search.html?q=goodness``, lists results; a full-page screenshot of every
page, served over HTTP, is written to ``_build/screenshots/PAGE.png``, beside the site and not in it (so it
is neither published nor a page of the site); and every HTML page the build wrote is one of the pages checked.

The site is the smoke-profile book of the ``built_book`` fixture (conftest.py), or the one at
``FFREPRO_SITE`` (a built ``_build/html`` folder, e.g. after ``make notebooks site PROFILE=cpu``). The browser
is ``FFREPRO_CHROMIUM``, else ``chromium`` (or ``google-chrome``, ``chromium-browser``) on the PATH; no browser
is downloaded. Without Playwright or Chromium the tests fail and say how to install them.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import importlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from ffrepro import book as book_pages
from ffrepro.results import REPO_ROOT

BOOK = REPO_ROOT / "book"
MODES = ("file", "http")
SEARCH_QUERY = "goodness"
TIMEOUT_MS = 30_000


def _toc_files(node: Any) -> Iterator[str]:
    """Every ``file:`` of a _toc.yml, in order (root, parts, chapters, sections)."""
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                yield node[key]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                yield from _toc_files(child)


def _pages() -> list[str]:
    """The site's pages: the redirect index.html, every page of the table of contents, the index and search."""
    toc = yaml.safe_load(book_pages.toc())  # what make site writes into book/_toc.yml
    return ["index.html", *(f"{f}.html" for f in _toc_files(toc)), "genindex.html", "search.html"]


PAGES = _pages()

# Known content failures, (page, check) -> reason: the test is xfail(strict=True), so it turns red once fixed.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


# --------------------------------------------------------------------------------------------------------------
# What the browser collects on a page, once it has loaded, MathJax has typeset and every image has settled.

SETTLE_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await Promise.all(Array.from(document.images).map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done); img.addEventListener('error', done);
  })));
  await document.fonts.ready;
}"""

COLLECT_JS = """() => {
  const text = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const skip = 'script, style, noscript, template, textarea, pre, code, kbd, samp, mjx-container';
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement && !node.parentElement.closest(skip)) text.push(node.nodeValue);
  }
  const mathErrors = [];
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    for (const item of MathJax.startup.document.math) {
      let bad = false;
      item.root.walkTree(n => {
        if (n.isKind('merror') || (n.isKind('mtext') && n.attributes.get('mathcolor') === 'red')) bad = true;
      });
      if (bad) mathErrors.push(String(item.math).slice(0, 120));
    }
  }
  const caption = (fig, sel) => { const e = fig.querySelector('figcaption ' + sel); return e ? e.textContent.trim() : ''; };
  return {
    url: location.href,
    text: text.join(''),
    math: document.querySelectorAll('span.math, div.math').length,
    untypeset: Array.from(document.querySelectorAll('span.math, div.math'))
      .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.trim().slice(0, 120)),
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: mathErrors,
    images: Array.from(document.images).map(img => ({
      src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
      inArticle: !!img.closest('article'), inFigure: !!img.closest('figure'),
    })),
    figures: Array.from(document.querySelectorAll('figure')).map(fig => ({
      id: fig.id, hasCaption: !!fig.querySelector('figcaption'),
      number: caption(fig, '.caption-number'), text: caption(fig, '.caption-text'),
    })),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => ({href: a.getAttribute('href'), url: a.href})),
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
      .concat(Array.from(document.querySelectorAll('a[name]')).map(a => a.name)),
    searchResults: Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.textContent.trim()),
    searchStatus: (document.querySelector('#search-results .search-summary') || {textContent: ''}).textContent.trim(),
  };
}"""

SEARCH_DONE_JS = """() => {
  const status = document.querySelector('#search-results .search-summary');
  return !!status && /Search finished|did not match/.test(status.textContent);
}"""

NO_DATA: dict[str, Any] = {"url": "", "text": "", "math": 0, "untypeset": [], "typeset": 0, "mathErrors": [],
                           "images": [], "figures": [], "links": [], "ids": [], "searchResults": [], "searchStatus": ""}
RAW_MATH = re.compile(r"\$\$.+?\$\$|\$[^\s$][^$\n]{0,200}?(?<=[^\s$])\$|\$[^\s$]\$|\\\(|\\\[|\\begin\{")
FIG_NUMBER = re.compile(r"Fig\. \d+")


@dataclass
class Visit:
    """One page opened one way: what the page logged and requested, and what COLLECT_JS read from it."""

    page: str
    mode: str
    site: Path
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=lambda: dict(NO_DATA))
    error: str = ""  # why the page did not load and settle, if it did not


class _IdParser(html.parser.HTMLParser):
    """The ids (and ``<a name>``) of an HTML file that no test opened in the browser."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value and (key == "id" or (tag == "a" and key == "name")):
                self.ids.add(value)


@functools.cache
def _static_ids(path: Path) -> frozenset[str]:
    parser = _IdParser()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


def _open(browser: Any, url: str, visit: Visit, origin: str | None, screenshot: Path | None = None) -> Visit:
    """Open url in a fresh context (a first-time visitor: empty storage), let it settle and collect."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            visit.console.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def on_request(request: Any) -> None:
        scheme = urlsplit(request.url).scheme
        outside = scheme not in ("file", "data", "blob", "about") if origin is None else (
            scheme in ("http", "https") and not request.url.startswith(origin + "/"))
        if outside:
            visit.requests.append(f"request outside the site (it must work offline): {request.url}")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            visit.requests.append(f"HTTP {response.status}: {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: visit.console.append(f"uncaught exception: {exc}"))
    page.on("request", on_request)
    page.on("requestfailed", lambda r: visit.requests.append(f"failed request: {r.url} ({r.failure})"))
    page.on("response", on_response)
    try:
        page.goto(url, wait_until="load")
        target = _redirect_target(visit.site / visit.page)
        if target:
            page.wait_for_url(re.compile(re.escape(target) + "$"))
            page.wait_for_load_state("load")
        page.evaluate(SETTLE_JS)
        if visit.page == "search.html":
            page.wait_for_function(SEARCH_DONE_JS)
        visit.data = page.evaluate(COLLECT_JS)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
    except Exception as exc:  # a page that never settles fails every check, and the other pages still run
        visit.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    finally:
        context.close()
    return visit


def _redirect_target(path: Path) -> str | None:
    """The target of a ``<meta http-equiv="Refresh">`` page (the index.html that Jupyter Book writes)."""
    if not path.is_file():
        return None
    match = re.search(r'http-equiv="Refresh"\s+content="\d+;\s*url=([^"]+)"', path.read_text(errors="replace"), re.I)
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------------------------
# The checks: each returns the problems it finds on one visit, as lines for the failure message.


def console_problems(v: Visit) -> list[str]:
    return list(v.console)


def request_problems(v: Visit) -> list[str]:
    return list(v.requests)


def image_problems(v: Visit) -> list[str]:
    return [f"image did not load: {img['src']}" for img in v.data["images"] if not img["loaded"]]


def figure_problems(v: Visit) -> list[str]:
    out = []
    for fig in v.data["figures"]:
        name = f"figure #{fig['id']}" if fig["id"] else "a figure without id"
        if not fig["hasCaption"] or not fig["text"]:
            out.append(f"{name} has no caption")
        if not FIG_NUMBER.fullmatch(fig["number"]):
            out.append(f"{name} has no 'Fig. N' number (got {fig['number']!r})")
    out += [f"image {img['src']} is in the article but in no numbered, captioned figure"
            for img in v.data["images"] if img["inArticle"] and not img["inFigure"]]
    return out


def math_problems(v: Visit) -> list[str]:
    d = v.data
    out = [f"math not typeset by MathJax: {m!r}" for m in d["untypeset"]]
    if d["math"] and not d["typeset"]:
        out.append(f"{d['math']} math elements and no mjx-container: MathJax did not run")
    out += [f"MathJax error (merror or undefined macro) in {m!r}" for m in d["mathErrors"]]
    out += [f"raw math in the text: {m.group(0)[:120]!r}" for m in RAW_MATH.finditer(d["text"])]
    return out


def link_problems(v: Visit, ids_of: Callable[[Path], frozenset[str] | None]) -> list[str]:
    """Links into the site: the file exists, and the anchor is an id of the target page. ids_of gives the
    ids of an HTML file as the browser saw it, or None when no visit opened it (then its HTML is parsed)."""
    out, seen = [], set()
    origin = None if v.mode == "file" else "{0.scheme}://{0.netloc}".format(urlsplit(v.data["url"]))
    root = v.site.resolve()
    for link in v.data["links"]:
        url = urlsplit(link["url"])
        if url.scheme in ("mailto", "javascript", "tel", "data") or (link["url"], link["href"]) in seen:
            continue
        seen.add((link["url"], link["href"]))
        if v.mode == "file":
            if url.scheme != "file":
                continue  # another site
            path = Path(unquote(url.path))
        else:
            if f"{url.scheme}://{url.netloc}" != origin:
                continue
            path = root / unquote(url.path).lstrip("/")
        path = path.resolve()
        if not path.is_relative_to(root):
            out.append(f"link {link['href']!r} leaves the site ({path})")
            continue
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            out.append(f"link {link['href']!r}: no such file {path.relative_to(root)}")
            continue
        anchor = unquote(url.fragment)
        if anchor and path.suffix == ".html":
            ids = ids_of(path)
            if ids is None:
                ids = _static_ids(path)
            if anchor not in ids:
                out.append(f"link {link['href']!r}: no id {anchor!r} in {path.relative_to(root)}")
    return out


# --------------------------------------------------------------------------------------------------------------
# Fixtures: the site, the browser, one visit of every page both ways.


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Path:
    """FFREPRO_SITE if set (an already built site), else the smoke-profile book that test_book.py checks."""
    given = os.environ.get("FFREPRO_SITE")
    if given:
        path = Path(given).resolve()
        if not (path / "index.html").is_file():
            pytest.fail(f"FFREPRO_SITE={given} has no index.html: point it at a built book/_build/html", pytrace=False)
        return path
    return request.getfixturevalue("built_book")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole module (the system's: Playwright downloads none)."""
    try:
        sync_api = importlib.import_module("playwright.sync_api")
    except ImportError:
        pytest.fail("playwright missing: run `make venv` (environment.yml pins it; it drives the system chromium, "
                    "so do not run `playwright install`)", pytrace=False)
    exe = os.environ.get("FFREPRO_CHROMIUM") or next(
        (found for name in ("chromium", "google-chrome", "chromium-browser") if (found := shutil.which(name))), None)
    if not exe or not Path(exe).is_file():
        pytest.fail("chromium missing: install it (`apt-get install chromium` on Debian, as .ci/run does) or set "
                    "FFREPRO_CHROMIUM to a Chromium or Chrome binary", pytrace=False)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield b
        b.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the tests report what the browser saw."""


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    """The site served by http.server on a free port of 127.0.0.1; yields its origin."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _url(site: Path, origin: str | None, page: str) -> str:
    query = f"?q={SEARCH_QUERY}" if page == "search.html" else ""
    return ((site / page).as_uri() if origin is None else f"{origin}/{page}") + query


def screenshot_path(site: Path, page: str) -> Path:
    """Where a page's screenshot goes: _build/screenshots/, beside the site's html/ folder."""
    return site.parent / "screenshots" / Path(page).with_suffix(".png")


@pytest.fixture(scope="module")
def visits(site: Path, browser: Any, server: str) -> dict[tuple[str, str], Visit]:
    """Every page, opened as a file and over HTTP; the HTTP visit also takes the page's screenshot."""
    out = {}
    for mode in MODES:
        origin = server if mode == "http" else None
        for page in PAGES:
            shot = screenshot_path(site, page) if mode == "http" else None
            out[mode, page] = _open(browser, _url(site, origin, page), Visit(page, mode, site), origin, shot)
    return out


def _ids_in(visits: dict[tuple[str, str], Visit], mode: str) -> Callable[[Path], frozenset[str] | None]:
    by_path = {(v.site / v.page).resolve(): frozenset(v.data["ids"]) for (m, _), v in visits.items() if m == mode}
    return lambda path: by_path.get(path.resolve())


def _report(visits: dict[tuple[str, str], Visit], page: str, check: str, problems: Callable[[Visit], list[str]]) -> None:
    lines = []
    for mode in MODES:
        visit = visits[mode, page]
        found = ([f"the page did not load and settle: {visit.error}"] if visit.error else []) + problems(visit)
        lines += [f"[{mode}] {p}" for p in found]
    more = f"\n  ... and {len(lines) - 25} more" if len(lines) > 25 else ""
    assert not lines, f"{page}: {check} check failed\n  " + "\n  ".join(lines[:25]) + more


def _pages_for(check: str) -> list[Any]:
    return [pytest.param(page, id=page, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[page, check])]
                         if (page, check) in KNOWN_FAILURES else []) for page in PAGES]


# --------------------------------------------------------------------------------------------------------------
# The tests.


@pytest.mark.parametrize("page", _pages_for("console"))
def test_no_console_errors(visits: dict[tuple[str, str], Visit], page: str) -> None:
    _report(visits, page, "console", console_problems)


@pytest.mark.parametrize("page", _pages_for("requests"))
def test_no_failed_requests(visits: dict[tuple[str, str], Visit], page: str) -> None:
    _report(visits, page, "requests", request_problems)


@pytest.mark.parametrize("page", _pages_for("images"))
def test_images_load(visits: dict[tuple[str, str], Visit], page: str) -> None:
    _report(visits, page, "images", image_problems)


@pytest.mark.parametrize("page", _pages_for("figures"))
def test_figures_have_captions_and_numbers(visits: dict[tuple[str, str], Visit], page: str) -> None:
    _report(visits, page, "figures", figure_problems)


@pytest.mark.parametrize("page", _pages_for("math"))
def test_math_is_typeset(visits: dict[tuple[str, str], Visit], page: str) -> None:
    _report(visits, page, "math", math_problems)


@pytest.mark.parametrize("page", _pages_for("links"))
def test_internal_links_resolve(visits: dict[tuple[str, str], Visit], page: str) -> None:
    ids = {mode: _ids_in(visits, mode) for mode in MODES}
    _report(visits, page, "links", lambda v: link_problems(v, ids[v.mode]))


def test_search_finds_goodness(visits: dict[tuple[str, str], Visit]) -> None:
    for mode in MODES:
        visit = visits[mode, "search.html"]
        assert visit.data["searchResults"], (f"search.html?q={SEARCH_QUERY} [{mode}]: no results "
                                             f"({visit.data['searchStatus'] or visit.error!r})")


def test_math_pages_are_typeset(visits: dict[tuple[str, str], Visit]) -> None:
    """The math check is not vacuous: the chapter that introduces FF has math, and MathJax typeset it."""
    for mode in MODES:
        data = visits[mode, "executed/ff-intro.html"].data
        assert data["math"] and data["typeset"] >= data["math"], (
            f"executed/ff-intro.html [{mode}]: {data['math']} math elements, {data['typeset']} typeset")


def test_every_page_is_checked(site: Path) -> None:
    """Every HTML page the build wrote (outside _static, _sources, _images and mathjax) is in PAGES."""
    built = {p.relative_to(site).as_posix() for p in site.rglob("*.html")
             if not p.relative_to(site).parts[0].startswith("_") and p.relative_to(site).parts[0] != "mathjax"}
    assert built == set(PAGES), (f"pages built but not checked: {sorted(built - set(PAGES))}; "
                                 f"checked but not built: {sorted(set(PAGES) - built)}")


def test_screenshots_saved(visits: dict[tuple[str, str], Visit], site: Path) -> None:
    shots = {page: screenshot_path(site, page) for page in PAGES}
    missing = [page for page, shot in shots.items() if not shot.is_file() or shot.stat().st_size == 0]
    assert not missing, f"no screenshot of {missing} in {site.parent / 'screenshots'}"


BROKEN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title>
<script defer src="mathjax/tex-mml-chtml.js"></script><script src="missing.js"></script></head>
<body><article>
<figure id="fig-ok"><img src="ok.svg"><figcaption><p><span class="caption-number">Fig. 1 </span>
<span class="caption-text">Fine.</span></p></figcaption></figure>
<figure id="fig-bare"><img src="ok.svg"></figure>
<img src="ok.svg"><img src="missing.png">
<div class="mathjax_ignore"><p>Raw $x^2$ and \\(y\\).</p></div>
<p>Typeset <span class="math">\\(\\alpha\\)</span> and <span class="math">\\(\\nosuchmacro\\)</span>.</p>
<p><code>$HOME</code> is code, not math.</p>
<a href="#fig-ok">fine</a> <a href="#nowhere">bad anchor</a> <a href="missing.html">bad file</a>
<a href="other.html#there">fine</a> <a href="other.html#not-there">bad anchor</a> <a href="https://example.org/">external</a>
</article><script>console.error("boom")</script></body></html>"""

OK_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def test_checks_catch_a_broken_page(browser: Any, tmp_path: Path) -> None:
    """The checks can fail: a page with each fault, opened as a file, trips every one of them."""
    mathjax = BOOK / "_extra" / "mathjax"
    if not (mathjax / "tex-mml-chtml.js").is_file():
        pytest.fail("offline MathJax missing: run `make book/_extra/mathjax/tex-mml-chtml.js` (make test does)")
    site = tmp_path / "html"
    site.mkdir()
    (site / "mathjax").symlink_to(mathjax)
    (site / "bad.html").write_text(BROKEN_PAGE)
    (site / "other.html").write_text('<html><body><p id="there">x</p></body></html>')
    (site / "ok.svg").write_text(OK_SVG)
    v = _open(browser, (site / "bad.html").as_uri(), Visit("bad.html", "file", site), None)
    assert not v.error, v.error
    assert any("boom" in p for p in console_problems(v)), console_problems(v)
    assert any("missing.js" in p for p in request_problems(v)) and any("missing.png" in p for p in request_problems(v))
    assert image_problems(v) == ["image did not load: missing.png"]
    figures = figure_problems(v)
    assert any("#fig-bare has no caption" in p for p in figures), figures
    assert len([p for p in figures if "in no numbered" in p]) == 2 and not any("fig-ok" in p for p in figures), figures
    math = math_problems(v)
    assert any("$x^2$" in p for p in math) and any("\\\\(" in p for p in math), math
    assert any(p.startswith("MathJax error") and "nosuchmacro" in p for p in math), math
    assert not any("HOME" in p or "alpha" in p or "not typeset" in p for p in math), math
    links = link_problems(v, lambda path: None)
    assert len(links) == 3 and all(any(bad in p for bad in ("nowhere", "missing.html", "not-there")) for p in links), links
