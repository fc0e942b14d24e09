"""One glossary, used everywhere: `tooling/cnn_tutorial_docs/glossary.yml` checked, and the site checked against it.

The term check reads every Chinese page, docs/zh/**/*.md (prose, code cells and
their comments alike), and the `#` comments and docstrings of cnn_tutorial/**/*.py.
Each `avoid` variant of the glossary found there fails the test, with the file,
the line, the variant and the standard term to write instead.

A variant may still be *mentioned* (rather than used) in exactly two places,
and only when it is written inside full-width quotes “” on one line:

- on the glossary page itself (docs/zh/terminology.md), which names the variants;
- inside a 译者注 admonition (`!!! note "译者注…"` and its indented block), where a
  translator's note quotes the original's wording, e.g. 原文把 shared bias 译为“共享偏差”.

Outside those two places quotes do not help (the old corner quotes 「」 are read
the same way). Comments and docstrings of the package have no escape at all.

Beyond `avoid`, a glossary term may list `avoid_except` patterns (周期 in
正弦波的周期 is a period, not an epoch) and `wrong_gloss` words (递归神经网络
glossed as "recurrent" is the recurrent/recursive mix-up).
"""

from __future__ import annotations

import re
from pathlib import Path

import jieba
import markdown
import pytest

from cnn_tutorial_docs.glossary import (
    MARKER,
    Glossary,
    Section,
    Term,
    check_markdown,
    check_python,
    jieba_dictionary,
    line_violations,
    load_glossary,
    render_tables,
    run_examples,
    search_words,
)

ROOT = Path(__file__).resolve().parents[1]
ZH_PAGES = sorted((ROOT / "docs" / "zh").rglob("*.md"))
MODULES = sorted((ROOT / "cnn_tutorial").rglob("*.py"))
GLOSSARY_PAGE = "terminology.md"

# The hand-written jieba dictionary the glossary replaced: its words must stay whole in the search.
FORMER_JIEBA_WORDS = (
    "卷积神经网络 卷积网络 卷积层 卷积核 池化 池化层 最大池化 感受野 局部感受野 特征图 全连接层 激活函数 "
    "损失函数 交叉熵 反向传播 梯度下降 共享权重 共享偏置 互相关 张量 批量 步幅 填充 空洞卷积"
).split()


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return load_glossary()


def _report(violations) -> str:
    return "\n".join(str(v) for v in violations)


# ---------------------------------------------------------------- the site, checked


@pytest.mark.parametrize("page", ZH_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_chinese_page_uses_standard_terms(page, glossary):
    text = page.read_text(encoding="utf-8")
    where = page.relative_to(ROOT).as_posix()
    violations = check_markdown(text, glossary, path=where, glossary_page=page.name == GLOSSARY_PAGE)
    if violations:
        pytest.fail("non-standard terms (see tooling/cnn_tutorial_docs/glossary.yml):\n" + _report(violations), pytrace=False)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_package_comments_and_docstrings_use_standard_terms(module, glossary):
    where = module.relative_to(ROOT).as_posix()
    violations = check_python(module.read_text(encoding="utf-8"), glossary, path=where)
    if violations:
        pytest.fail("non-standard terms (see tooling/cnn_tutorial_docs/glossary.yml):\n" + _report(violations), pytrace=False)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_terminology_page_shows_the_glossary(language):
    page = ROOT / "docs" / language / GLOSSARY_PAGE
    assert page.read_text(encoding="utf-8").count(MARKER) == 1


# ---------------------------------------------------------------- the glossary itself


def test_no_term_is_defined_twice(glossary):
    seen: dict[str, str] = {}
    for term in glossary.terms:
        for word in (term.zh, *term.aliases):
            assert word not in seen, f"{word!r} is a term of both {seen[word]!r} and {term.en!r}"
            seen[word] = term.en
    english = [t.en.casefold() for t in glossary.terms]
    assert len(english) == len(set(english)), sorted(e for e in english if english.count(e) > 1)
    codes = [t.code for t in glossary.terms]
    assert len(codes) == len(set(codes)), "two terms share an example"


def test_section_ids_are_unique_anchors(glossary):
    ids = [s.id for s in glossary.sections]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", i) for i in ids)


def test_every_variant_differs_from_every_standard_term(glossary):
    standard = {w for t in glossary.terms for w in (t.zh, *t.aliases, *t.search)}
    for term in glossary.terms:
        for variant in term.avoid:
            assert variant not in standard, f"{variant!r} is both avoided (for {term.zh}) and standard"
            assert variant != term.zh and variant.strip() == variant


def test_standard_terms_and_definitions_pass_the_check(glossary):
    # A variant inside a standard term (or a definition) would make the check flag the standard itself.
    for term in glossary.terms:
        for text in (term.zh, *term.aliases, *term.search, term.zh_def):
            assert not line_violations(text, glossary), f"{term.zh}: {text!r} contains an avoided variant"


def test_exception_patterns_are_valid_and_cover_a_variant(glossary):
    for term in glossary.terms:
        assert not term.avoid_except or term.avoid, f"{term.zh}: avoid_except without avoid"
        for pattern in term.avoid_except:
            re.compile(pattern)
            assert any(v in pattern for v in term.avoid), f"{term.zh}: {pattern!r} excepts none of {term.avoid}"


# The concepts the chapters teach (CHAPTERS.md) and the review asked for: each must keep a full entry.
CENTRAL_TERMS = (
    "张量 标量 向量 矩阵 轴 阶 形状 维度 数据类型 设备 广播 即时执行 自动求导 计算图 梯度 "
    "模块 层 参数 权重 偏置 缓冲区 钩子 状态字典 激活函数 logit 损失函数 交叉熵 反向传播 优化器 学习率 "
    "数据集 数据加载器 批量 轮 训练集 验证集 测试集 交叉验证 基线 泛化 过拟合 正则化 dropout 数据增强 "
    "卷积 卷积核 步幅 填充 池化 感受野 特征图 通道 共享权重 迁移学习 微调 显著图 "
    "循环神经网络 递归神经网络 长短期记忆 门控循环单元 梯度消失 嵌入 词嵌入 负采样 分布式训练 检查点"
).split()


def test_the_glossary_covers_the_central_terms(glossary):
    standard = {term.zh for term in glossary.terms}
    missing = [word for word in CENTRAL_TERMS if word not in standard]
    assert not missing, f"central terms without a glossary entry: {missing}"
    assert all(section.terms for section in glossary.sections)


def _code_text(markdown_text: str) -> str:
    """The code of a page (fenced blocks and inline spans), lower-cased, without spaces or underscores."""
    code = re.findall(r"```.*?```|`[^`\n]+`", markdown_text, flags=re.DOTALL)
    return re.sub(r"[\s_]", "", " ".join(code)).casefold()


def test_every_term_is_used_on_a_chinese_page(glossary):
    # A term no chapter uses teaches nothing. A term used only as code counts too:
    # 数据加载器 is written `DataLoader`, 状态字典 `state_dict()`.
    pages = [p.read_text(encoding="utf-8") for p in ZH_PAGES if p.name != GLOSSARY_PAGE]
    code = [_code_text(text) for text in pages]
    unused = [
        term.zh
        for term in glossary.terms
        if not any(word in text for text in pages for word in (term.zh, *term.aliases))
        and not any(term.en.replace(" ", "").casefold() in c for c in code)
    ]
    assert not unused, f"glossary terms that no Chinese chapter uses: {unused}"


def test_code_examples_are_single_lines_that_fit_a_table(glossary):
    for term in glossary.terms:
        assert "\n" not in term.code and "|" not in term.code, f"{term.zh}: {term.code!r}"
        compile(term.code, term.zh, "exec")
        for text in (term.zh_def, term.en_def):
            assert "\n" not in text and "|" not in text, f"{term.zh}: {text!r}"


def test_code_examples_run_without_errors_or_warnings(glossary):
    results = run_examples(glossary)
    failures = [
        f"{term.zh} ({term.en}): {term.code}\n    {results[term.code].error or results[term.code].warnings}"
        for term in glossary.terms
        if results[term.code].error or results[term.code].warnings
    ]
    assert not failures, "glossary examples failed:\n" + "\n".join(failures)
    for term in glossary.terms:
        text = results[term.code].text
        assert text and len(text) <= 80, f"{term.zh}: the result should be short, got {text!r}"
        assert not re.search(r"0x[0-9a-f]{6,}", text), f"{term.zh}: the result shows a memory address: {text!r}"


# ---------------------------------------------------------------- what it generates


@pytest.mark.parametrize("language", ["zh", "en"])
def test_tables_render_one_row_per_term(glossary, language):
    tables = render_tables(glossary, language)
    html = markdown.markdown(tables, extensions=["tables", "attr_list", "fenced_code"])
    rows = re.findall(r"<tr>", html)
    assert len(rows) == len(glossary.terms) + len(glossary.sections)  # one header row per section
    for section in glossary.sections:
        assert f'id="glossary-{section.id}"' in html
    assert glossary.prelude.strip().splitlines()[0] in tables
    for term in glossary.terms:
        assert term.zh in tables and term.en in tables


def test_jieba_dictionary_lists_the_glossary_and_the_former_words(glossary):
    lines = jieba_dictionary(glossary).splitlines()
    words = [line.split()[0] for line in lines]
    assert all(re.fullmatch(r"\S+ \d+ n", line) for line in lines)
    assert len(words) == len(set(words))
    assert set(FORMER_JIEBA_WORDS) <= set(words)


def test_jieba_keeps_every_term_whole(glossary, tmp_path):
    dictionary = tmp_path / "user_dict.txt"
    dictionary.write_text(jieba_dictionary(glossary), encoding="utf-8")
    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(dictionary))
    broken = [
        (word, "/".join(cut))
        for word in search_words(glossary)
        for sentence in (f"我们学习{word}的用法", f"在{word}中", f"{word}是什么")
        if word not in (cut := list(tokenizer.cut(sentence)))
    ]
    assert not broken, broken


# ---------------------------------------------------------------- the check's rules


@pytest.fixture
def tiny() -> Glossary:
    terms = (
        Term("池化", "pooling", "", "", "1", "s", avoid=("汇聚",)),
        Term("轮", "epoch", "", "", "2", "s", avoid=("周期",), avoid_except=("正弦波的周期",)),
        Term("循环神经网络", "recurrent neural network", "", "", "3", "s", abbr="RNN", wrong_gloss=("递归神经网络",)),
    )
    return Glossary("", (Section("s", "节", "S", terms),))


def test_a_variant_is_reported_with_file_line_and_standard_term(tiny):
    (violation,) = check_markdown("第一行\n这里做汇聚。\n", tiny, path="docs/zh/x.md")
    assert str(violation) == "docs/zh/x.md:2: 「汇聚」 is not the standard term; write 池化 (pooling)"


def test_quotes_are_a_mention_only_in_a_translators_note(tiny):
    page = "\n".join([
        "原文写作“汇聚”。",                   # 1: prose: flagged even in quotes
        '!!! note "译者注：术语"',
        "    原文写作“汇聚”。",               # 3: quoted in the note: allowed
        "    原文写作汇聚。",                 # 4: unquoted in the note: flagged
        "",
        "    仍在注里「汇聚」。",             # 6: still inside the note; corner quotes read the same
        "注结束后“汇聚”。",                   # 7: after the note: flagged
        '!!! note "提示"',
        "    别的注里“汇聚”。",               # 9: another admonition: flagged
    ])
    assert [v.line for v in check_markdown(page, tiny)] == [1, 4, 7, 9]


def test_quotes_are_a_mention_anywhere_on_the_glossary_page(tiny):
    assert check_markdown("本站不用“汇聚”。", tiny, glossary_page=True) == []
    assert [v.line for v in check_markdown("本站不用汇聚。", tiny, glossary_page=True)] == [1]
    # an ASCII quote is no mention: the site's Chinese quotes are full-width
    assert [v.line for v in check_markdown('本站不用"汇聚"。', tiny, glossary_page=True)] == [1]


def test_exceptions_and_wrong_glosses(tiny):
    assert line_violations("正弦波的周期", tiny) == []
    assert [v.variant for v in line_violations("每个周期", tiny)] == ["周期"]
    (gloss,) = line_violations("递归神经网络（recurrent neural network）", tiny)
    assert gloss.gloss and "循环神经网络" in str(gloss)
    assert [v.gloss for v in line_violations("递归神经网络（RNN）", tiny)] == [True]
    assert line_violations("递归神经网络（recursive neural network）", tiny) == []


def test_python_code_outside_comments_and_docstrings_is_not_checked(tiny):
    source = '"""模块：汇聚。"""\nLABEL = "汇聚"\n\n\ndef f():\n    # 汇聚\n    return 1\n'
    assert [v.line for v in check_python(source, tiny)] == [1, 6]


# ---------------------------------------------------------------- the MkDocs plugin


def test_plugin_writes_the_dictionary_and_points_the_search_at_it(tmp_path):
    from types import SimpleNamespace

    from material.plugins.search.plugin import SearchPlugin
    from mkdocs.exceptions import PluginError

    from cnn_tutorial_docs.glossary import GlossaryPlugin

    config_file = tmp_path / "mkdocs.yml"
    config_file.write_text("site_name: x\n", encoding="utf-8")
    search = SearchPlugin()
    search.load_config({})
    plugin = GlossaryPlugin()
    errors, _ = plugin.load_config(
        {"source": str(ROOT / "tooling" / "cnn_tutorial_docs" / "glossary.yml"), "jieba_dict": "cache/jieba.txt"}, str(config_file)
    )
    assert not errors
    config = SimpleNamespace(config_file_path=str(config_file), plugins={"material/search": search})
    plugin.on_config(config)
    written = tmp_path / "cache" / "jieba.txt"
    assert written.read_text(encoding="utf-8") == jieba_dictionary(load_glossary())
    assert Path(search.config.jieba_dict_user) == written.resolve()
    plugin.on_config(config)  # the i18n plugin runs on_config again for each language
    search.config.jieba_dict_user = "tooling/cnn_tutorial_docs/jieba_user_dict.txt"
    with pytest.raises(PluginError, match="jieba_dict_user"):
        plugin.on_config(config)
