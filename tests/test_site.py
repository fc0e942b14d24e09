"""The whole site, built once with --strict exactly as `make docs` builds it."""

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = {"zh": "", "en": "en/"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return out


def page(site: Path, language: str, name: str) -> str:
    return (site / LANGUAGES[language] / name / "index.html").read_text(encoding="utf-8")


class Resources(HTMLParser):
    """Collects what a page makes the browser fetch, and every element id and in-page link."""

    LOADING = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src"}

    def __init__(self) -> None:
        super().__init__()
        self.loads, self.ids, self.fragments = [], set(), []

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
    figures = re.findall(r'<img src="(figure-[0-9a-f]+\.png)"', html)
    assert len(figures) >= 5
    for name in figures:
        assert (site / LANGUAGES[language] / "cnn" / name).stat().st_size > 1000
    assert (site / LANGUAGES[language] / "cnn" / "cnn.ipynb").exists()
    assert "Traceback" not in html


@pytest.mark.parametrize("language, section", [("zh", "参数"), ("en", "Parameters")])
def test_api_page_documents_the_package_in_the_page_language(site, language, section):
    html = page(site, language, "api")
    assert 'id="cnn_tutorial.models.SimpleCNN"' in html
    assert 'id="cnn_tutorial.training.fit"' in html
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


def test_language_switch_stays_on_the_same_page(site):
    zh = page(site, "zh", "cnn")
    en = page(site, "en", "cnn")
    assert re.search(r'href="\.\./en/cnn/"\s+hreflang="en"', zh)
    assert re.search(r'href="\.\./\.\./cnn/"\s+hreflang="zh"', en)


def test_chinese_search_index_keeps_domain_terms_whole(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    words = set()
    for doc in index["docs"]:
        if doc["location"].startswith("cnn/"):
            words.update(re.split(r"[\u200b\s]+", doc["text"] + "\u200b" + doc["title"]))
    assert {"卷积", "池化", "感受野"} <= words
