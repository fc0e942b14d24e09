"""`make bench`: build times, execution times, page weights and Lighthouse scores.

Works on a copy of the repository in a temporary folder, so the measured
builds start from an empty execution cache and nothing here is modified.
Prints Markdown tables. Lighthouse 12 comes from the npm registry (installed
once under .cache/bench) and drives Debian's Chromium.

Run: python tests/bench.py [--no-lighthouse]
"""

import argparse
import functools
import gzip
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE = "lighthouse@12.8.2"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def copy_repository(target: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    for name in files:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def timed_build(work: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(work), NO_MKDOCS_2_WARNING="1")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"],
        cwd=work, env=env, check=True,
    )
    return time.perf_counter() - started


def table(header: tuple, rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class CompressingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site gzip-compressed, as any real static host does (http.server does not)."""

    COMPRESSIBLE = (".html", ".css", ".js", ".json", ".svg", ".xml", ".ipynb")

    def log_message(self, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not (path.suffix in self.COMPRESSIBLE and path.is_file()
                and "gzip" in self.headers.get("Accept-Encoding", "")):
            return super().send_head()
        body = gzip.compress(path.read_bytes())
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def lighthouse_scores(site: Path, pages: list[str]) -> list[tuple]:
    prefix = ROOT / ".cache" / "bench"
    binary = prefix / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--prefix", str(prefix), LIGHTHOUSE], check=True)
    handler = functools.partial(CompressingHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = []
    try:
        for page in pages:
            url = f"http://127.0.0.1:{server.server_address[1]}/{page}"
            result = subprocess.run(
                [
                    str(binary), url, "--quiet", "--output=json", "--output-path=stdout",
                    f"--only-categories={','.join(CATEGORIES)}",
                    "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
                ],
                env=dict(os.environ, CHROME_PATH=CHROMIUM),
                capture_output=True, text=True, timeout=300,
            )
            if result.returncode != 0:
                rows.append((page or "/", *(["failed"] * len(CATEGORIES))))
                print(result.stderr[-2000:], file=sys.stderr)
                continue
            report = json.loads(result.stdout)
            rows.append((page or "/", *(f"{report['categories'][c]['score']:.2f}" for c in CATEGORIES)))
    finally:
        server.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-lighthouse", action="store_true", help="skip the Lighthouse audits")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        copy_repository(work)
        builds = [("cold build (empty cache)", timed_build(work))]
        builds.append(("warm build (nothing changed)", timed_build(work)))
        chapter = work / "docs" / "zh" / "cnn.md"
        chapter.write_text(chapter.read_text(encoding="utf-8") + "\n本段为基准测试添加。\n", encoding="utf-8")
        builds.append(("rebuild after editing one chapter's prose", timed_build(work)))
        text = chapter.read_text(encoding="utf-8")
        chapter.write_text(text.replace("print(len(train_set)", "print('edited'); print(len(train_set)", 1), encoding="utf-8")
        builds.append(("rebuild after editing one chapter's code (re-executes it)", timed_build(work)))
        print("## Builds (this machine: %d cores)\n" % os.cpu_count())
        print(table(("build", "seconds"), [(name, f"{s:.1f}") for name, s in builds]))

        cache = work / ".cache" / "notebooks"
        executions = []
        for entry in sorted(cache.glob("*.json"), key=lambda p: p.stat().st_mtime):
            execution = json.loads(entry.read_text(encoding="utf-8"))
            executions.append((execution.get("source", "?"), entry.stem[:12], f"{execution['seconds']:.1f}"))
        print("\n## Notebook executions (zh and en share one when their code is the same)\n")
        print(table(("executed as", "cache key", "seconds"), executions))

        site = work / "site"
        sizes = sorted(((p.relative_to(site).as_posix(), p.stat().st_size) for p in site.rglob("*.html")),
                       key=lambda item: -item[1])
        print("\n## HTML size of each page\n")
        print(table(("page", "KB"), [(name, f"{size / 1024:.1f}") for name, size in sizes]))

        if args.no_lighthouse:
            return
        heaviest = sizes[0][0].removesuffix("index.html")
        pages = list(dict.fromkeys(["", "cnn/", "api/", heaviest]))
        print("\n## Lighthouse 12, mobile preset (heaviest page: %s)\n" % (heaviest or "/"))
        print(table(("page", *CATEGORIES), lighthouse_scores(site, pages)))


if __name__ == "__main__":
    main()
