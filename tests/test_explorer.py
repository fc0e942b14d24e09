"""The convolution explorer (docs/assets/explorer.js) in headless Chromium, checked against PyTorch.

The explorer is driven on a small standalone page that loads the site's script
and stylesheet, so most of these tests need no site build; the last one opens
the built chapters that embed it. Skipped like tests/test_browser.py where
Chromium is missing (REQUIRE_BROWSER=1 makes that a failure).
"""

import itertools
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from browser_support import CHROMIUM, require_chromium

require_chromium("explorer tests")

import axe_playwright_python  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "docs" / "assets"
FIELDS = ("n", "k", "s", "p", "d", "cin", "cout")


def reference(mode: str, n: int, k: int, s: int, p: int, d: int, cin: int, cout: int, ceil: bool) -> dict | None:
    """What PyTorch says about one setting: the output side, the parameter count and, for every
    output cell (i, j), the input cells (r, c) it reads; None where PyTorch rejects the setting.

    The read sets come from one-hot inputs: image q of the batch has a single 1 at input cell q
    (in channel 0 of a convolution whose weights are all 1, in every channel of a max pooling,
    whose windows over other cells give 0 and over padding alone give -inf), so output (i, j) of
    image q is nonzero (is 1) exactly when (i, j) reads cell q.
    """
    try:
        if mode == "conv":
            with warnings.catch_warnings():  # cout=0: "Initializing zero-element tensors is a no-op"
                warnings.simplefilter("ignore", UserWarning)
                layer = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d)
            with torch.no_grad():
                layer.weight.fill_(1.0)
                layer.bias.zero_()
        else:
            layer = nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        side = max(n, 0)
        x = torch.zeros(max(side * side, 1), cin, side, side)
        if side:
            one_hot = torch.eye(side * side).reshape(side * side, side, side)
            x[:] = one_hot[:, None]
            if mode == "conv":
                x[:, 1:] = 0
        with torch.no_grad():
            y = layer(x)
    except (RuntimeError, ValueError):
        return None
    channels = cout if mode == "conv" else cin
    assert y.shape[:2] == (x.shape[0], channels) and y.shape[2] == y.shape[3]
    o = y.shape[-1]
    hit = (y[:, 0] == 1).reshape(side, side, o, o) if mode == "pool" else (y[:, 0] != 0).reshape(side, side, o, o)
    reads = {(i, j): sorted((r, c) for r, c in hit[:, :, i, j].nonzero().tolist()) for i in range(o) for j in range(o)}
    return {"out": o, "params": sum(t.numel() for t in layer.parameters()), "reads": reads}


def settings() -> list[dict]:
    """A grid of settings inside the explorer's ranges, plus ones PyTorch rejects."""
    channels = [(1, 1), (3, 2), (2, 5)]
    grid = []
    for mode, n, k, s, p, d in itertools.product(("conv", "pool"), (1, 2, 4, 5, 7), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2)):
        for ceil in (False, True) if mode == "pool" else (False,):
            cin, cout = channels[len(grid) % 3]
            grid.append(dict(mode=mode, n=n, k=k, s=s, p=p, d=d, cin=cin, cout=cout, ceil=ceil))
    base = dict(n=5, k=3, s=1, p=1, d=1, cin=1, cout=1, ceil=False)
    for mode in ("conv", "pool"):
        no_channels = {"cout": 0} if mode == "conv" else {"cin": 0}  # (a convolution takes 0 input channels)
        for change in ({"k": 0}, {"s": 0}, {"d": 0}, {"p": -1}, {"n": 0}, {"s": -2}, {"k": 4, "p": 3}, no_channels):
            grid.append({**base, "mode": mode, **change})
    grid += [dict(mode="pool", n=6, k=5, s=2, p=0, d=1, cin=1, cout=1, ceil=True),  # a window hanging over the edge
             dict(mode="pool", n=4, k=5, s=2, p=0, d=1, cin=1, cout=1, ceil=True)]  # numerator < 0, yet one window
    return grid


# Drives the explorer's controls as a reader would (set a field, an input event), then reads the
# drawing back from the page: the grid, the formula's result, and for every output cell the lit
# input cells after choosing it by keyboard focus, by pointer hover or by the Next button.
DRIVE = """settings => {
  const root = document.querySelector(".conv-explorer");
  const field = name => root.querySelector(`[data-field=${name}]`);
  const lit = () => [...root.querySelectorAll(".conv-explorer__input .is-read:not(.is-pad)")]
      .map(c => [Number(c.dataset.r), Number(c.dataset.c)]);
  return settings.map((s, index) => {
    root.querySelector(`input[value=${s.mode}]`).click();
    for (const name of ["n", "k", "s", "p", "d", "cin", "cout"]) field(name).value = String(s[name]);
    field("ceil").checked = s.ceil;
    field("n").dispatchEvent(new Event("input", { bubbles: true }));
    const error = root.querySelector(".conv-explorer__error");
    const cells = [...root.querySelectorAll(".conv-explorer__output [role=gridcell]")];
    if (error.textContent) {
      return { error: error.dataset.kind, text: error.textContent, cells: cells.length,
               drawn: !root.querySelector(".conv-explorer__drawing").hidden };
    }
    const how = ["focus", "hover", "next"][index % 3];
    const reads = cells.map((cell, at) => {
      if (how === "focus" || at === 0) cell.focus();
      else if (how === "hover") cell.dispatchEvent(new PointerEvent("pointerover", { bubbles: true }));
      else root.querySelector("[data-action=next]").click();
      const chosen = root.querySelector(".conv-explorer__output .is-selected");
      return { at: [Number(chosen.dataset.i), Number(chosen.dataset.j)], lit: lit() };
    });
    const rows = [...root.querySelectorAll(".conv-explorer__output [role=row]")];
    return {
      out: Number(root.dataset.out), params: Number(root.dataset.params),
      formula: Number(root.querySelector(".conv-explorer__formula").textContent.match(/(\\d+)$/)[1]),
      rows: rows.length, columns: rows.map(r => r.children.length), reads,
    };
  });
}"""


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def standalone(browser, tmp_path: Path, lang: str = "en", width: int = 1000, attributes: str = ""):
    """A page holding only an explorer, loading the site's own script and stylesheet."""
    page_file = tmp_path / f"explorer-{lang}.html"
    page_file.write_text(
        f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>explorer</title>
<link rel="stylesheet" href="{(ASSETS / 'explorer.css').as_uri()}"></head>
<body><main><h1>explorer</h1><div class="conv-explorer"{attributes}></div></main>
<script src="{(ASSETS / 'explorer.js').as_uri()}" defer></script></body></html>""",
        encoding="utf-8",
    )
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(page_file.as_uri())
    page.wait_for_selector(".conv-explorer[data-ready] [role=gridcell]")
    return page, errors


def test_script_and_stylesheet_fit_their_budget():
    assert (ASSETS / "explorer.js").stat().st_size <= 30 * 1024
    assert (ASSETS / "explorer.css").stat().st_size <= 8 * 1024


def test_explorer_agrees_with_pytorch_on_every_setting(browser, tmp_path):
    page, errors = standalone(browser, tmp_path)
    cases = settings()
    answers = page.evaluate(DRIVE, cases)
    assert not errors
    valid = invalid = 0
    problems = []
    for case, answer in zip(cases, answers, strict=True):
        expected = reference(**case)
        label = " ".join(f"{key}={value}" for key, value in case.items())
        if expected is None:
            invalid += 1
            if answer.get("error") != "pytorch" or answer["cells"] or answer["drawn"]:
                problems.append(f"{label}: PyTorch rejects it, the explorer shows {answer}")
            continue
        valid += 1
        if "error" in answer:
            problems.append(f"{label}: PyTorch gives {expected['out']}×{expected['out']}, the explorer says {answer['text']}")
            continue
        o = expected["out"]
        if (answer["out"], answer["formula"], answer["rows"], answer["columns"]) != (o, o, o, [o] * o):
            problems.append(f"{label}: output {o}, explorer {answer['out']} (formula {answer['formula']}, "
                            f"grid {answer['rows']}×{answer['columns']})")
            continue
        if answer["params"] != expected["params"]:
            problems.append(f"{label}: {expected['params']} parameters, explorer {answer['params']}")
        cells = [(i, j) for i in range(o) for j in range(o)]
        for cell, read in zip(cells, answer["reads"], strict=True):
            if tuple(read["at"]) != cell:
                problems.append(f"{label}: choosing output {cell} selected {read['at']}")
            elif sorted(map(tuple, read["lit"])) != expected["reads"][cell]:
                problems.append(f"{label}: output {cell} reads {expected['reads'][cell]}, the explorer lights {read['lit']}")
    assert not problems, f"{len(problems)} disagreements, first ones:\n" + "\n".join(problems[:15])
    assert valid >= 200 and invalid >= 100, (valid, invalid)


def test_explorer_explains_what_it_does_not_draw(browser, tmp_path):
    page, _ = standalone(browser, tmp_path)
    error = page.locator(".conv-explorer__error")
    page.fill("[data-field=s]", "2.5")
    expect(error).to_have_text("Stride s must be a whole number.")
    page.fill("[data-field=s]", "1")
    page.fill("[data-field=n]", "40")
    expect(error).to_contain_text("up to 16")
    assert error.get_attribute("data-kind") == "limit"  # PyTorch takes it: only the drawing is limited
    page.fill("[data-field=n]", "3")
    page.fill("[data-field=k]", "5")
    page.fill("[data-field=p]", "0")
    expect(error).to_contain_text("spans d(k − 1) + 1 = 1×(5 − 1) + 1 = 5 cells")
    expect(page.locator(".conv-explorer__drawing")).to_be_hidden()
    page.fill("[data-field=k]", "3")
    expect(error).to_be_empty()
    expect(page.locator(".conv-explorer__formula")).to_have_text(
        "o = ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1 = ⌊(3 + 2×0 − 1×(3 − 1) − 1) / 1⌋ + 1 = ⌊0 / 1⌋ + 1 = 1")


def test_explorer_speaks_the_pages_language(browser, tmp_path):
    page, errors = standalone(browser, tmp_path, lang="zh")
    root = page.locator(".conv-explorer")
    expect(root.locator(".conv-explorer__title")).to_have_text("卷积演示器")
    expect(root.locator(".conv-explorer__status")).to_contain_text("输出 (0, 0) 读取输入")
    page.fill("[data-field=k]", "9")
    expect(root.locator(".conv-explorer__error")).to_contain_text("这个演示器里")
    assert not errors
    # data-lang on the element wins over the page's language.
    page, _ = standalone(browser, tmp_path, lang="zh", attributes=' data-lang="en" data-mode="pool" data-k="2" data-s="2" data-p="0"')
    expect(page.locator(".conv-explorer__title")).to_have_text("Convolution explorer")
    assert page.locator("input[value=pool]").is_checked()
    expect(page.locator(".conv-explorer__formula")).to_contain_text("= 3")  # ⌊(7 − 2) / 2⌋ + 1


def test_explorer_works_by_keyboard_on_a_phone(browser, tmp_path):
    page, errors = standalone(browser, tmp_path, width=375)
    status = page.locator(".conv-explorer__status")
    # The largest drawing fits a phone's width.
    for name, value in (("n", "16"), ("p", "4"), ("k", "7")):
        page.fill(f"[data-field={name}]", value)
    assert page.locator(".conv-explorer__output [role=gridcell]").count() == 18 * 18
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.fill("[data-field=n]", "5")
    page.fill("[data-field=p]", "1")
    page.fill("[data-field=k]", "3")
    # Tab goes from the last setting to the output grid, which holds one tab stop.
    page.focus("[data-field=cout]")
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.getAttribute('role'), document.activeElement.dataset.i, document.activeElement.dataset.j]")
    assert focused == ["gridcell", "0", "0"]
    expect(status).to_contain_text("Output (0, 0) reads input rows −1 to 1 and columns −1 to 1: 4 input cells, 5 padding cells")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    expect(status).to_contain_text("Output (1, 1) reads input rows 0 to 2 and columns 0 to 2: 9 input cells.")
    page.keyboard.press("End")
    expect(status).to_contain_text("Output (1, 4)")
    page.keyboard.press("Tab")  # out of the grid to "Previous"
    page.keyboard.press("Tab")  # "Next"
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Output (2, 0)")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # Play
    expect(page.locator("[data-action=play]")).to_have_attribute("aria-pressed", "true")
    expect(status).to_contain_text("Output (2, 1)", timeout=3000)
    page.keyboard.press("Space")
    expect(page.locator("[data-action=play]")).to_have_attribute("aria-pressed", "false")
    # The layer switch is a radio group: arrow keys change it.
    page.focus("input[value=conv]")
    page.keyboard.press("ArrowDown")
    assert page.locator("input[value=pool]").is_checked()
    expect(page.locator(".conv-explorer__shape")).to_contain_text("MaxPool2d(kernel_size=3")
    assert not errors


def test_explorer_passes_axe(browser, tmp_path):
    page, _ = standalone(browser, tmp_path)
    page.add_script_tag(content=(Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8"))
    run = """async () => (await axe.run(document.querySelector('.conv-explorer'), {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
        resultTypes: ['violations']})).violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' '))"""
    assert page.evaluate(run) == []
    page.fill("[data-field=k]", "11")  # the explained, undrawn state
    page.check("input[value=pool]")
    assert page.evaluate(run) == []


@pytest.mark.parametrize(("path", "title"), [("cnn/", "卷积演示器"), ("intro-convnets/", "卷积演示器"),
                                             ("en/cnn/", "Convolution explorer"), ("en/intro-convnets/", "Convolution explorer")])
def test_chapters_embed_the_explorer(browser, site_url, path, title):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.url} {r.status}"))
    page.goto(site_url + path)
    explorer = page.locator(".conv-explorer")
    expect(explorer).to_have_count(1)
    assert explorer.get_attribute("data-ready") is None  # built only when it nears the screen
    explorer.scroll_into_view_if_needed()
    expect(explorer.locator(".conv-explorer__title")).to_have_text(title)
    assert explorer.locator("[role=gridcell]").count() > 0
    assert not errors
