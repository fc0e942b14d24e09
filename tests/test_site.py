"""The whole site, built once with --strict exactly as `make docs` builds it."""

import json
import os
import re
import subprocess
import sys
from urllib.parse import unquote, urljoin, urlparse
from html.parser import HTMLParser
from pathlib import Path

import pytest

LANGUAGES = {"zh": "", "en": "en/"}


def page(site: Path, language: str, name: str) -> str:
    return (site / LANGUAGES[language] / name / "index.html").read_text(encoding="utf-8")


class Resources(HTMLParser):
    """Collects what a page makes the browser fetch, and every element id and in-page link."""

    LOADING = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src"}

    def __init__(self) -> None:
        super().__init__()
        self.loads, self.ids, self.fragments, self.links = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") is not None:
            self.ids.add(attrs["id"])
        if tag in self.LOADING and attrs.get(self.LOADING[tag]):
            self.loads.append(attrs[self.LOADING[tag]])
        if tag == "link" and set((attrs.get("rel") or "").split()) & {"stylesheet", "preload", "modulepreload", "icon", "prefetch"}:
            self.loads.append(attrs.get("href", ""))
        if tag == "a" and (attrs.get("href") or "").startswith("#") and len(attrs["href"]) > 1:
            self.fragments.append(attrs["href"][1:])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def parse(html: str) -> Resources:
    parser = Resources()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("language", LANGUAGES)
def test_seed_chapter_outputs_come_from_the_build(site, language):
    html = page(site, language, "cnn")
    assert "296,130" in html and "99.6%" in html  # printed by executed cells
    assert re.search(r"fc1\s+294,976\s+99\.6%", html)
    accuracy = re.search(r"(?:测试集准确率|test accuracy)[^0-9]*([0-9.]+)%", html, re.IGNORECASE)
    assert accuracy, "the chapter prints its test accuracy"
    assert float(accuracy.group(1)) > 85.0
    images = re.findall(r"<img [^>]*>", html)
    figures = [re.search(r'src="(figure-[0-9a-f]+\.png)"', tag).group(1) for tag in images if 'src="figure-' in tag]
    assert len(figures) >= 5
    alts = [re.search(r'alt="([^"]*)"', tag).group(1) for tag in images if 'src="figure-' in tag]
    assert all(alt.startswith("Figure") for alt in alts), alts
    assert sum(alt.startswith("Figure:") for alt in alts) >= len(alts) // 2, f"most figures are described: {alts}"
    for name in figures:
        assert (site / LANGUAGES[language] / "cnn" / name).stat().st_size > 1000
    assert (site / LANGUAGES[language] / "cnn" / "cnn.ipynb").exists()
    assert "Traceback" not in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_module_has_a_generated_page_listed_in_the_index(site, language):
    from cnn_tutorial_docs.api_pages import package_modules

    modules = package_modules(Path(__file__).resolve().parents[1] / "cnn_tutorial", "cnn_tutorial")
    index = page(site, language, "api")
    for module in modules:
        html = page(site, language, f"api/{module.short}")
        assert f'id="{module.name}' in html or module.name in html
        assert f'href="{module.short}/"' in index or f'href="api/{module.short}/"' in index, module.name
        summary = module.summary.get(language, module.summary.get("en", ""))
        assert summary.split("`")[0][:20] in index
    if language == "zh":
        assert re.search(r"[\u4e00-\u9fff]", index.split("<table")[1].split("</table>")[0]), "Chinese descriptions"


def test_the_wheel_is_published_and_holds_only_the_package(site):
    import zipfile

    wheels = list((site / "packages").glob("cnn_tutorial-*-py3-none-any.whl"))
    assert len(wheels) == 1, wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"cnn_tutorial", wheels[0].name.split("-py3")[0] + ".dist-info"}, tops
    root = Path(__file__).resolve().parents[1]
    package = {
        path.relative_to(root).as_posix()
        for path in (root / "cnn_tutorial").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    shipped = {name for name in names if name.startswith("cnn_tutorial/")}
    assert shipped == package, f"missing from the wheel: {sorted(package - shipped)}; extra: {sorted(shipped - package)}"
    assert "cnn_tutorial/cli/__init__.py" in shipped  # the command line (a subpackage) ships too
    assert not list((site / "en").glob("packages/*.whl")), "one copy, at the site's root"
    install = page(site, "zh", "installation")
    assert wheels[0].name in install and "{{" not in install


def test_published_address_is_in_the_sitemap_and_canonical_links(site):
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    assert "https://cnn-tutorial.example/cnn/" in sitemap
    assert "127.0.0.1" not in sitemap
    assert '<link rel="canonical" href="https://cnn-tutorial.example/en/cnn/">' in page(site, "en", "cnn")


@pytest.mark.parametrize("language, section", [("zh", "参数"), ("en", "Parameters")])
def test_api_page_documents_the_package_in_the_page_language(site, language, section):
    models, training = page(site, language, "api/models"), page(site, language, "api/training")
    assert 'id="cnn_tutorial.models.SimpleCNN"' in models
    assert 'id="cnn_tutorial.training.fit"' in training
    for html in (models, training):
        assert f'doc-section-title">{section}' in html


def all_pages(site: Path):
    return sorted(site.rglob("*.html"))


def test_nothing_is_loaded_from_another_host(site):
    offenders = []
    for path in all_pages(site):
        for url in parse(path.read_text(encoding="utf-8")).loads:
            if re.match(r"^(https?:)?//", url):
                offenders.append(f"{path.relative_to(site)}: {url}")
    for path in site.rglob("*.css"):
        for url in re.findall(r"url\((['\"]?)(https?:)?//", path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(f"{path.relative_to(site)}: {url}")
        assert "fonts.googleapis" not in path.read_text(encoding="utf-8", errors="replace")
    assert not offenders, offenders


@pytest.mark.parametrize("language", LANGUAGES)
def test_in_page_anchors_resolve_including_chinese_headings(site, language):
    for name in ("cnn", "api"):
        parsed = parse(page(site, language, name))
        assert "" not in parsed.ids
        missing = [f for f in parsed.fragments if f not in parsed.ids and f.replace("%20", " ") not in parsed.ids]
        assert not missing, f"{language}/{name}: {missing[:10]}"
    if language == "zh":
        ids = parse(page(site, "zh", "cnn")).ids
        assert {"局部感受野", "池化", "卷积与共享权重"} <= ids


@pytest.mark.parametrize("language", LANGUAGES)
def test_math_is_rendered_as_mathml(site, language):
    html = page(site, language, "cnn")
    assert "<math" in html
    assert 'class="arithmatex"' not in html


MATH_FONT = "assets/fonts/DejaVuMathTeXGyre-subset.woff2"


def test_only_pages_with_math_load_the_math_font(site):
    with_math = without_math = 0
    for path in all_pages(site):
        html = path.read_text(encoding="utf-8")
        declares_font = MATH_FONT in html
        if "<math" in html:
            with_math += 1
            assert declares_font, f"{path}: has math but no math font"
            font_url = re.search(r'url\("([^"]+DejaVuMathTeXGyre-subset\.woff2)"\)', html).group(1)
            assert (path.parent / font_url).resolve() == (site / MATH_FONT).resolve()
        else:
            without_math += 1
            assert not declares_font, f"{path}: no math, yet it declares the math font"
    assert with_math >= 10 and without_math >= 10


def test_the_math_font_covers_every_character_of_every_formula(site):
    """A formula with a character the subset lacks would fall back to a font without stretchy sizes:
    add its range to cnn_tutorial_docs.math_font.RANGES and remake the font (see that module)."""
    import html as html_module

    from fontTools.ttLib import TTFont

    font = TTFont(site / MATH_FONT)
    assert "MATH" in font, "the subset must keep the OpenType MATH table (stretchy sizes come from it)"
    cmap = font.getBestCmap()
    missing = {}
    for path in all_pages(site):
        for formula in re.findall(r"<math\b.*?</math>", path.read_text(encoding="utf-8"), re.DOTALL):
            text = html_module.unescape(re.sub(r"<[^>]+>", "", formula))
            for char in set(text) - set(" \n"):
                # CJK inside \text{} is drawn by the reader's own Chinese font, by design
                if ord(char) not in cmap and not "\u3000" <= char <= "\u9fff" and not "\uff00" <= char <= "\uffef":
                    missing.setdefault(char, path.relative_to(site).as_posix())
    assert not missing, missing
    assert (site / MATH_FONT).stat().st_size <= 120 * 1024


def test_language_switch_stays_on_the_same_page(site):
    zh = page(site, "zh", "cnn")
    en = page(site, "en", "cnn")
    assert re.search(r'href="\.\./en/cnn/"\s+hreflang="en"', zh)
    assert re.search(r'href="\.\./\.\./cnn/"\s+hreflang="zh"', en)
    head = zh.split("</head>")[0]
    assert re.search(r'<link rel="alternate" href="\.\./en/cnn/" hreflang="en">', head), "alternates stay for crawlers"
    scripts = zh.split("</head>")[1]
    assert scripts.index("link[rel=alternate][hreflang]") < scripts.index("assets/javascripts/bundle."), (
        "the live document loses them before Material's bundle would fetch a sitemap for each"
    )


def test_chinese_search_index_keeps_domain_terms_whole(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    words = set()
    for doc in index["docs"]:
        if doc["location"].startswith("cnn/"):
            words.update(re.split(r"[\u200b\s]+", doc["text"] + "\u200b" + doc["title"]))
    assert {"卷积", "池化", "感受野"} <= words


def test_no_broken_internal_link_or_anchor_in_either_language(site):
    root = "http://site.invalid/"
    pages = {p: parse(p.read_text(encoding="utf-8")) for p in all_pages(site)}
    broken = []
    for path, parsed in pages.items():
        here = root + path.relative_to(site).as_posix()
        for href in parsed.links:
            target = urlparse(urljoin(here, href))
            if f"{target.scheme}://{target.netloc}/" != root:
                continue  # a link to another site: not loaded, not checked here
            local = site / unquote(target.path.lstrip("/"))
            if local.is_dir():
                local = local / "index.html"
            if not local.exists():
                broken.append(f"{path.relative_to(site)}: {href}")
            elif target.fragment and local.suffix == ".html":
                ids = pages[local].ids if local in pages else parse(local.read_text(encoding="utf-8")).ids
                if unquote(target.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)}: {href} (no such anchor)")
    assert not broken, broken[:20]
    assert any(p.parent.name == "en" for p in pages), "the English pages were checked too"


HTML_BUDGET = 200 * 1024
EXTRA_ASSETS_BUDGET = 20 * 1024


def test_every_page_fits_the_html_budget(site):
    sizes = {p.relative_to(site).as_posix(): p.stat().st_size for p in all_pages(site)}
    over = {name: size for name, size in sizes.items() if size > HTML_BUDGET}
    assert not over, over


def asset_bytes(site: Path, page_path: Path) -> int:
    """Bytes of the stylesheets and scripts a page loads from the site."""
    total = 0
    for url in parse(page_path.read_text(encoding="utf-8")).loads:
        if url.endswith((".css", ".js")) or ".css?" in url or ".js?" in url:
            local = (page_path.parent / urlparse(url).path).resolve()
            total += local.stat().st_size
    return total


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_notebook_page_loads_little_more_css_and_js_than_a_plain_page(site, language):
    plain = asset_bytes(site, site / LANGUAGES[language] / "index.html")
    notebook = asset_bytes(site, site / LANGUAGES[language] / "cnn" / "index.html")
    # The seed chapter embeds the convolution explorer: content with a budget of its own (tests/test_explorer.py).
    explorer = sum((site / "assets" / name).stat().st_size for name in ("explorer.js", "explorer.css"))
    assert plain > 0
    assert notebook - explorer - plain <= EXTRA_ASSETS_BUDGET


@pytest.mark.parametrize("language", LANGUAGES)
def test_chapter_links_its_executed_notebook_and_versions(site, language):
    import nbformat

    html = page(site, language, "cnn")
    meta = re.search(r'<p class="nb-meta">(.*?)</p>', html, re.DOTALL)
    assert meta and "2.13.0" in meta.group(1) and 'href="cnn.ipynb"' in meta.group(1)
    assert "pip install https://cnn-tutorial.example/packages/cnn_tutorial-" in meta.group(1)
    assert 'installation/#install-the-package"' in meta.group(1)
    notebook = nbformat.read(site / LANGUAGES[language] / "cnn" / "cnn.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.outputs for c in code if "print(" in c.source)
    comment = {"zh": "# 训练集", "en": "# training set"}[language]  # each keeps its own comments
    assert any(comment in c.source for c in code)


def test_one_language_build_for_the_writing_loop(site, tmp_path):
    """`make serve-en` (BUILD_ONLY_LOCALE=en): English alone, at the root, chapters from the cache."""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=root, env={**os.environ, "BUILD_ONLY_LOCALE": "en"}, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "cnn" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en"' in html and "Convolutional" in html
    assert not (tmp_path / "site" / "en").exists()
