"""Every page of the built site in Chromium, on a phone-sized screen, checked with axe-core.

The helpers here (axe-core's run, what it may report, a page's console and
requests) serve tests/test_browser.py too. The every-page check takes minutes
(88 pages), so the test suite runs this file as a separate process as soon as
the site is built, beside the rest of the suite, and its test reads the
report at the end (`every_page_report` in tests/conftest.py).

Usage: python tests/every_page.py SITE_DIR REPORT.json
"""

import functools
import http.server
import json
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import axe_playwright_python

from browser_support import CHROMIUM

# axe-core, the accessibility engine, as the pinned axe-playwright-python ships it (no network needed).
AXE_SOURCE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
AXE_RUN = """async (exclude) => {
  const { violations } = await axe.run({ include: [document], exclude: exclude.map(selector => [selector]) }, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    resultTypes: ["violations"],
  });
  return violations.flatMap(v => v.nodes.map(n => ({ rule: v.id, impact: v.impact, target: n.target.join(" "),
                                                   summary: (n.failureSummary || "").slice(0, 300) })));
}"""
# What axe may still report, each for a reason outside this site's reach. Anything else fails.
AXE_ACCEPTED = {
    # Material puts an unnamed <nav> (its copy button) into every code block it sets up; two
    # on screen at once are "landmarks without unique names". The theme offers no way to
    # name them; content.lazy already means only the blocks on screen have one. Moderate.
    ("landmark-unique", ".md-code__nav"),
}


# Syntax-highlighted code is thousands of small spans in a few dozen styles, and axe's contrast
# check of every span was a quarter to 40 % of its time on a long chapter (rnn, measured). Spans with
# the same color, background, size, weight and opacity have the same contrast: the every-page check looks at each such
# style on the first page that shows it, and leaves highlighted code out of axe's run on a page
# whose code styles have all been checked before.
CODE_STYLES = """() => [...new Set([...document.querySelectorAll(".highlight code span")]
  .filter(span => span.textContent.trim())
  .map(span => {
    const style = getComputedStyle(span);
    let background = "rgba(0, 0, 0, 0)";
    for (let box = span; box && background === "rgba(0, 0, 0, 0)"; box = box.parentElement)
      background = getComputedStyle(box).backgroundColor;
    return [style.color, background, style.fontSize, style.fontWeight, style.opacity].join(" / ");
  }))]"""
CHECKED_ELSEWHERE = ".highlight code"


def start_axe(page, exclude: tuple[str, ...] = ()) -> None:
    """Start axe-core on the page as it is now, in the page's own renderer process, and
    return at once; `axe_violations` collects the result. Meanwhile the test can load the
    next page (axe does most of its work synchronously: the timeout lets this call return).
    `exclude`: CSS selectors of what axe leaves out."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(content=AXE_SOURCE)
    # Blocks far from the screen are not rendered (content-visibility: auto, notebook.css), and axe
    # reads colors off rendered boxes: it would report nonsense contrasts for them. Render them all.
    page.add_style_tag(content="* { content-visibility: visible !important; }")
    page.evaluate(f"exclude => {{ window.axeViolations = new Promise(done => setTimeout(() => done(({AXE_RUN})(exclude)), 0)); }}",
                  list(exclude))


def axe_violations(page) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA and best-practice violations: the run `start_axe` began, or a new one."""
    if not page.evaluate("'axeViolations' in window"):
        start_axe(page)
    return page.evaluate("async () => { const found = await window.axeViolations; delete window.axeViolations; return found; }")


def unaccepted(violations: list[dict]) -> list[dict]:
    return [v for v in violations
            if v["impact"] in ("critical", "serious")
            or not any(v["rule"] == rule and part in v["target"] for rule, part in AXE_ACCEPTED)]


class Watch:
    """Console errors, failed requests and requests to other hosts seen by a page."""

    def __init__(self, page, site_url: str) -> None:
        self.errors, self.failed, self.offsite = [], [], []
        host = urlparse(site_url).netloc
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} {r.status}"))
        page.on(
            "request",
            lambda r: urlparse(r.url).scheme in ("http", "https")
            and urlparse(r.url).netloc != host
            and self.offsite.append(r.url),
        )


def site_pages(site: Path) -> list[str]:
    return sorted(
        p.relative_to(site).parent.as_posix() + "/"
        for p in site.rglob("index.html")
    )


# Every figure, lazy or not, and the fonts: a broken one shows up as a failed request.
# (Waiting for these is seconds faster per page than waiting for the network to go quiet.)
LOAD_EVERYTHING = """async () => {
  for (const image of document.images) image.loading = "eager";
  await Promise.all([...document.images].map(image => image.decode().catch(() => null)));
  await document.fonts.ready;
}"""


def check_every_page(site: Path, site_url: str, browser) -> tuple[list[str], list[str], list[str]]:
    """Every page of both languages, on a phone-sized screen: no console error, failed or
    off-site request, no sideways scrolling, and no accessibility violation axe-core finds
    (WCAG 2.1 A/AA and best practices) beyond the accepted ones above; the contrast of each
    code style where it first appears (CODE_STYLES). Returns the pages checked, the pages whose
    highlighted code axe checked, and the problems found."""
    context = browser.new_context(base_url=site_url, viewport={"width": 375, "height": 800})
    problems = []
    pages = site_pages(site)
    code_styles_checked, code_checked_on = set(), []

    def finish(path, page, watch):
        violations = unaccepted(axe_violations(page))
        for kind, found in (("console", watch.errors), ("failed", watch.failed), ("off-site", watch.offsite)):
            problems.extend(f"{path} {kind}: {item}" for item in found)
        problems.extend(f"{path} axe {v['impact']} {v['rule']}: {v['target']}: {v['summary']}" for v in violations)
        page.close()

    in_flight = []  # two pages at a time: one loads while axe checks the other
    for path in pages:
        page = context.new_page()
        watch = Watch(page, site_url)
        page.goto(path.removeprefix("./"), wait_until="load")
        page.evaluate(LOAD_EVERYTHING)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{path}: page scrolls sideways by {overflow}px at 375px")
        code_styles = set(page.evaluate(CODE_STYLES))
        if code_styles <= code_styles_checked:
            start_axe(page, exclude=(CHECKED_ELSEWHERE,))
        else:
            start_axe(page)
            code_styles_checked |= code_styles
            code_checked_on.append(path)
        in_flight.append((path, page, watch))
        if len(in_flight) == 2:
            finish(*in_flight.pop(0))
    for item in in_flight:
        finish(*item)
    context.close()
    return pages, code_checked_on, problems


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    from playwright.sync_api import sync_playwright

    site, report = Path(sys.argv[1]), Path(sys.argv[2])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    began = time.perf_counter()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            pages, code_checked_on, problems = check_every_page(site, f"http://127.0.0.1:{server.server_address[1]}/", browser)
            browser.close()
    finally:
        server.shutdown()
    result = {"pages": pages, "code_checked_on": code_checked_on, "problems": problems, "seconds": round(time.perf_counter() - began, 1)}
    temporary = report.with_suffix(".tmp")
    temporary.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    temporary.replace(report)


if __name__ == "__main__":
    main()
