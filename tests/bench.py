"""`make bench`: build times, execution times, page weights, Lighthouse scores, training throughput.

The site part works on a copy of the repository in a temporary folder, so the
measured builds start from an empty execution cache and nothing here is
modified. Lighthouse 12 comes from the npm registry (installed once under
.cache/bench) and drives Debian's Chromium.

The training part measures images per second of the package's one training
loop (`cnn_tutorial.fit`, which the command line runs too, and its epoch
function `training.train_one_epoch` called alone) against a minimal
hand-written loop on the same model and data, then the command line's
throughput in one process and in two under torchrun.

Prints Markdown tables.

Two executions of every chapter are compared too (`--only determinism`): they
must print the same text apart from timings.

Lighthouse: the pages the site's speed goals name (home, the seed chapter in both
languages, an API page, the playground, the three longest chapters), each run three
times (LIGHTHOUSE_RUNS) with Lighthouse 12.2.3 and 12.8.2 (LIGHTHOUSE_VERSIONS): every
run printed, the worst run per page judged against the goals. It needs a Chinese font
installed, as every phone has (see require_cjk_font).

Run: python tests/bench.py [--only site|lighthouse|training|determinism] [--no-lighthouse]
"""

import argparse
import functools
import gzip
import http.server
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
    env = dict(os.environ, PYTHONPATH=f"{work}{os.pathsep}{work / 'tooling'}", NO_MKDOCS_2_WARNING="1")
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


# What the site's speed issue asks of every one of these pages, in every run (Lighthouse 12, mobile preset).
LIGHTHOUSE_GOALS = {"performance": 0.95, "TBT ms": 200, "LCP ms": 2500, "CLS": 0.1}
LIGHTHOUSE_RUNS = int(os.environ.get("LIGHTHOUSE_RUNS", "3"))
# Two Lighthouse versions: their simulations differ, and a page must meet the goals in both.
LIGHTHOUSE_VERSIONS = tuple(os.environ.get("LIGHTHOUSE_VERSIONS", "12.2.3 12.8.2").split())


def lighthouse_pages(site: Path) -> list[tuple[str, str]]:
    """The pages the goals are set for: (label, path under the site root).

    Home, the seed chapter in both languages, an API page, the playground, and
    the three longest chapters by HTML size (the longest pages are the slowest).
    """
    sizes = {p.parent.relative_to(site).as_posix(): p.stat().st_size for p in site.rglob("index.html")}
    chapters = sorted((path for path in sizes if path.count("/") == 0 and path not in ("api", ".", "en")),
                      key=lambda path: -sizes[path])
    pages = [("home", ""), ("seed chapter (zh)", "cnn/"), ("seed chapter (en)", "en/cnn/"),
             ("API page", "api/models/"), ("playground", "playground/")]
    longest = [path for path in chapters if f"{path}/" not in {page for _, page in pages}][:3]
    return pages + [(f"long chapter ({path}, {sizes[path] // 1024} KB)", f"{path}/") for path in longest]


def require_cjk_font() -> None:
    """Every phone has a Chinese font; a bare Linux box may not. Without one Chromium
    looks up a fallback for each Chinese character and draws boxes, and laying out a
    Chinese page takes about 2.5 times as long: a cost no reader pays."""
    found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip()
    if not found:
        raise SystemExit("Lighthouse needs a Chinese font to measure the Chinese pages as a reader's "
                         "phone shows them; none found (fc-list :lang=zh). Install one, e.g. "
                         "apt-get install fonts-wqy-microhei, or run with --no-lighthouse.")


def lighthouse_binary(version: str) -> Path:
    """Lighthouse `version` from the npm registry, installed once under .cache/bench."""
    prefix = ROOT / ".cache" / "bench" / f"lighthouse-{version}"
    binary = prefix / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--prefix", str(prefix), f"lighthouse@{version}"], check=True)
    return binary


def lighthouse_run(binary: Path, url: str) -> dict:
    """One Lighthouse run (mobile preset, simulated throttling): the scores and metrics the goals name."""
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
        print(result.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"Lighthouse failed on {url}")
    report = json.loads(result.stdout)
    audits = report["audits"]
    return {
        "performance": report["categories"]["performance"]["score"],
        "TBT ms": audits["total-blocking-time"]["numericValue"],
        "LCP ms": audits["largest-contentful-paint"]["numericValue"],
        "CLS": audits["cumulative-layout-shift"]["numericValue"],
        **{c: report["categories"][c]["score"] for c in CATEGORIES[1:]},
        # Lighthouse's own measure of the host CPU's speed at the time of the run (higher is faster): the
        # simulated phone's times scale with the host's, so a low index marks a run on a busy or slow host.
        "benchmark index": report["environment"]["benchmarkIndex"],
    }


def missed(goal: str, value: float) -> bool:
    limit = LIGHTHOUSE_GOALS[goal]
    return value < limit if goal == "performance" else value > limit


def lighthouse_table(site: Path) -> str:
    """Every run of every page with each Lighthouse version, the worst run per page, and the verdict.

    The site is served with gzip, like any static host. A goal is met only
    when every run meets it, not the median: single runs vary.
    """
    require_cjk_font()
    binaries = {version: lighthouse_binary(version) for version in LIGHTHOUSE_VERSIONS}
    handler = functools.partial(CompressingHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows, misses = [], []
    try:
        for label, page in lighthouse_pages(site):
            url = f"http://127.0.0.1:{server.server_address[1]}/{page}"
            for version, binary in binaries.items():
                runs = [lighthouse_run(binary, url) for _ in range(LIGHTHOUSE_RUNS)]
                worst = {key: (min if key in ("performance", *CATEGORIES[1:]) else max)(run[key] for run in runs)
                         for key in runs[0] if key != "benchmark index"}
                for goal in LIGHTHOUSE_GOALS:
                    if missed(goal, worst[goal]):
                        misses.append(f"{label}, Lighthouse {version}: {goal} {worst[goal]:.3g} in its worst run "
                                      f"(goal {'≥' if goal == 'performance' else '≤'} {LIGHTHOUSE_GOALS[goal]})")
                rows.append((
                    f"{label} /{page}", version,
                    " ".join(f"{run['performance']:.2f}" for run in runs), f"{worst['performance']:.2f}",
                    " ".join(f"{run['TBT ms']:.0f}" for run in runs),
                    " ".join(f"{run['LCP ms']:.0f}" for run in runs),
                    f"{worst['CLS']:.3f}", *(f"{worst[c]:.2f}" for c in CATEGORIES[1:]),
                    " ".join(f"{run['benchmark index']:.0f}" for run in runs),
                ))
    finally:
        server.shutdown()
    header = ("page", "Lighthouse", "performance, each run", "worst", "TBT ms, each run", "LCP ms, each run",
              "CLS (worst)", *(f"{c} (worst)" for c in CATEGORIES[1:]), "benchmark index, each run")
    verdict = ("Every goal met in every run (performance ≥ 0.95, TBT ≤ 200 ms, LCP ≤ 2.5 s, CLS ≤ 0.1)."
               if not misses else "Goals missed:\n" + "\n".join(f"- {miss}" for miss in misses))
    return table(header, rows) + "\n\n" + verdict


def bench_site(no_lighthouse: bool) -> None:
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
        executed = executions_count(work)
        cli = work / "cnn_tutorial" / "cli" / "__init__.py"
        cli.write_text(cli.read_text(encoding="utf-8") + "\n# an edit for the benchmark\n", encoding="utf-8")
        builds.append(("rebuild after a one-line edit to the command line (cli/__init__.py)", timed_build(work)))
        after_cli = executions_count(work)
        models = work / "cnn_tutorial" / "models.py"
        models.write_text(models.read_text(encoding="utf-8") + "\n# an edit for the benchmark\n", encoding="utf-8")
        builds.append(("rebuild after a one-line edit to cnn_tutorial/models.py", timed_build(work)))
        after_models = executions_count(work)
        print("## Builds (this machine: %d cores)\n" % os.cpu_count())
        print(table(("build", "seconds"), [(name, f"{s:.1f}") for name, s in builds]))
        print(f"\nChapters executed by the edit to the command line: {after_cli - executed}; "
              f"by the edit to models.py: {after_models - after_cli}")

        cache = work / ".cache" / "notebooks" / "entries"
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

        if no_lighthouse:
            return
        print(f"\n## Lighthouse {' and '.join(LIGHTHOUSE_VERSIONS)}, mobile preset, {LIGHTHOUSE_RUNS} runs each (served with gzip)\n")
        print(lighthouse_table(site))


def bench_lighthouse() -> None:
    """Lighthouse alone, on the working tree's site built into a temporary folder (the chapters' cache is reused)."""
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", tmp],
                       cwd=ROOT, check=True)
        print(f"## Lighthouse {' and '.join(LIGHTHOUSE_VERSIONS)}, mobile preset, {LIGHTHOUSE_RUNS} runs each (served with gzip)\n")
        print(lighthouse_table(Path(tmp)))


def executions_count(work: Path) -> int:
    """How many notebook executions the builds in `work` have recorded so far (the executor logs each)."""
    log = work / ".cache" / "notebooks" / "executions.log"
    return len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0


def bench_determinism() -> None:
    """Execute every chapter twice (no cache) and report which printed different text."""
    sys.path.insert(0, str(ROOT / "tests"))
    from determinism import compare_two_runs

    rows = []
    for page in sorted((ROOT / "docs" / "zh").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        if not text.startswith("---\njupyter:"):
            continue
        started = time.perf_counter()
        difference = compare_two_runs(page)
        rows.append((page.stem, "same" if not difference else f"DIFFERENT ({len(difference)} lines)",
                     f"{time.perf_counter() - started:.0f}"))
    print("## Two executions of each chapter (timings masked)\n")
    print(table(("chapter", "printed text", "seconds for both"), rows))


# ---------------------------------------------------------------- training throughput

# (data set, model, training images, epochs per timed run, timed runs per loop). SimpleCNN is the
# seed's network (compute-bound); DigitCNN is so small that per-batch overhead shows.
LOOP_WORKLOADS = (("shapes", "simple-cnn", 2048, 2, 5), ("digits", "digit-cnn", 1347, 5, 7))
BATCH_SIZE = 64


def loop_variants():
    """The training loops compared: each trains a fresh model for some epochs, as a user would call it."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader

    from cnn_tutorial.training import fit, train_one_epoch

    def hand_written(model, train_set, epochs):
        # The minimal loop: what the package's loops must not be much slower than.
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(0))
        for _ in range(epochs):
            model.train()
            for inputs, labels in loader:
                loss = F.cross_entropy(model(inputs), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    def with_fit(model, train_set, epochs):
        fit(model, train_set, epochs=epochs, batch_size=BATCH_SIZE, lr=1e-3, device="cpu", progress=False)

    def with_epoch_function(model, train_set, epochs):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for epoch in range(epochs):
            train_one_epoch(model, train_set, optimizer, epoch=epoch, batch_size=BATCH_SIZE, progress=False)

    return {
        "hand-written loop": hand_written,
        "cnn_tutorial.fit": with_fit,
        "training.train_one_epoch": with_epoch_function,
    }


def bench_loops() -> list[tuple]:
    """Median images/s of each loop; runs interleaved so that changes in load hit all loops alike."""
    from cnn_tutorial.cli import MODELS
    from cnn_tutorial.data import load_digits, make_shapes
    from cnn_tutorial.training import set_seed

    rows = []
    for dataset, model_name, size, epochs, runs in LOOP_WORKLOADS:
        train_set = make_shapes(size, seed=0) if dataset == "shapes" else load_digits("train")
        variants = loop_variants()
        rates = {name: [] for name in variants}
        for run in range(runs + 1):  # run 0 warms up (allocator, lazy imports) and is not counted
            for name, train in variants.items():
                set_seed(0)
                model = MODELS[model_name]()
                began = time.perf_counter()
                train(model, train_set, epochs)
                if run:
                    rates[name].append(epochs * len(train_set) / (time.perf_counter() - began))
        reference = statistics.median(rates["hand-written loop"])
        for name, values in rates.items():
            median = statistics.median(values)
            rows.append((f"{model_name} on {dataset} ({len(train_set)} images, batch {BATCH_SIZE})", name,
                         f"{median:,.0f}", f"{median / reference:.3f}"))
    return rows


def cli_throughput(dataset: str, processes: int, threads: int, epochs: int, batch_size: int) -> tuple[float, float]:
    """Median training images/s over the epochs after the first, and the whole command's seconds."""
    from cnn_tutorial.cli.distributed import free_port

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as out:
        train = ["-m", "cnn_tutorial", "train", "--dataset", dataset, "--epochs", str(epochs),
                 "--batch-size", str(batch_size), "--device", "cpu", "--out", out]
        if processes == 1:
            command = [sys.executable, *train]
        else:
            command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                       "--master_addr=127.0.0.1", f"--master_port={free_port()}", *train]
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads), TQDM_DISABLE="1")
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(name, None)
        began = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
        seconds = time.perf_counter() - began
        rows = json.loads((Path(out) / "metrics.json").read_text())
    return statistics.median(row["samples_per_s"] for row in rows[1:] or rows), seconds


# (data set, epochs, global batch); the first epoch is left out of the median as warm-up.
CLI_WORKLOADS = (("digits", 6, 64), ("shapes", 3, 64))


def bench_processes() -> list[tuple]:
    cores = os.cpu_count() or 1
    configurations = [(1, 1), (1, cores), (2, 1)] if cores > 1 else [(1, 1), (2, 1)]
    rows = []
    for dataset, epochs, batch_size in CLI_WORKLOADS:
        baseline = None
        for processes, threads in configurations:
            rate, seconds = cli_throughput(dataset, processes, threads, epochs, batch_size)
            baseline = baseline or rate
            launcher = "python -m cnn_tutorial" if processes == 1 else f"torchrun --nproc_per_node={processes}"
            rows.append((dataset, launcher, f"{processes} × {threads}", f"{rate:,.0f}", f"{rate / baseline:.2f}",
                         f"{seconds:.1f}"))
    return rows


def bench_training() -> None:
    import torch

    print(f"## Training loops (this machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)\n")
    print("Median images/s over runs that each train a fresh model for a few epochs; "
          "ratio = loop / hand-written loop (goal: ≥ 0.95).\n")
    print(table(("workload", "loop", "images/s", "ratio"), bench_loops()))
    print("\n## The command line in one process and under torchrun (gloo, CPU)\n")
    print("Training images/s (median over epochs after the first, from metrics.json); "
          "seconds = the whole command, start-up included.\n")
    print(table(("data set", "launcher", "processes × threads", "images/s", "vs 1 × 1", "seconds"),
                bench_processes()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("site", "lighthouse", "training", "determinism"),
                        help="run one part only (default: all but lighthouse, which site includes)")
    parser.add_argument("--no-lighthouse", action="store_true", help="skip the Lighthouse audits")
    args = parser.parse_args()
    if args.only == "lighthouse":
        bench_lighthouse()
    if args.only in (None, "site"):
        bench_site(args.no_lighthouse)
    if args.only in (None, "training"):
        if args.only is None:
            print()
        bench_training()
    if args.only in (None, "determinism"):
        if args.only is None:
            print()
        bench_determinism()


if __name__ == "__main__":
    main()
