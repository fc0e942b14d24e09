"""Reading chapter notebooks and comparing their code across languages.

A chapter is a Jupytext Markdown notebook: a `.md` file whose front matter
has a `jupyter:` key; its ```` ```python ```` blocks are the code cells.
"""

import io
import re
import tokenize

import jupytext
import nbformat

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?\n)---\s*\n", re.DOTALL)


def is_notebook_source(text: str) -> bool:
    """Whether a Markdown file is a Jupytext notebook (front matter with `jupyter:`).

    Examples:
        >>> is_notebook_source("---\\njupyter:\\n  kernelspec: {name: python3}\\n---\\n# Hi\\n")
        True
        >>> is_notebook_source("# Just a page\\n")
        False
    """
    match = _FRONT_MATTER.match(text)
    return bool(match) and re.search(r"^jupyter\s*:", match.group(1), re.MULTILINE) is not None


def read_notebook(text: str) -> nbformat.NotebookNode:
    """Parse a Jupytext Markdown notebook into an (unexecuted) notebook."""
    return jupytext.reads(text, fmt="md")


def code_without_comments(source: str) -> str:
    """Code with comments and blank lines removed, for comparing translations.

    Two languages' versions of a cell may differ in their comments only;
    strings, names and numbers must be identical. Only what lies outside
    string literals is normalized: a blank line or trailing space inside a
    triple-quoted string is part of the code.

    Examples:
        >>> code_without_comments("x = 1  # 一个数\\n\\n# 注释\\ny = '# not a comment'\\n")
        "x = 1\\ny = '# not a comment'"
        >>> code_without_comments("s = '''a\\n\\n  # b \\n'''  # c\\n")
        "s = '''a\\n\\n  # b \\n'''"
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return "\n".join(line.rstrip() for line in source.splitlines() if line.strip())
    lines = source.splitlines()
    in_string: set[int] = set()  # 0-based lines that end inside a string literal
    string_types = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1), getattr(tokenize, "TSTRING_MIDDLE", -1)}
    for token in tokens:
        if token.type in string_types and token.end[0] > token.start[0]:
            in_string.update(range(token.start[0] - 1, token.end[0] - 1))
    for token in reversed(tokens):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col]
    kept = []
    for number, line in enumerate(lines):
        if number in in_string:
            kept.append(line)
        elif line.strip():
            kept.append(line.rstrip())
    return "\n".join(kept)


def code_cells(notebook: nbformat.NotebookNode) -> list[str]:
    """The sources of a notebook's code cells, in order."""
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


_FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")


def code_cell_lines(text: str) -> list[int]:
    """The Markdown line (1-based) on which each code cell's code starts.

    Jupytext reads top-level ```` ```python ```` fences as code cells; other
    fences (```` ```shell ````, indented examples) stay Markdown.

    Examples:
        >>> code_cell_lines("# T\\n\\n```python\\nx = 1\\n```\\n\\n```shell\\nls\\n```\\n```python\\ny\\n```\\n")
        [4, 11]
    """
    lines, inside = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if inside is None:
            if match:
                inside = match.group(1)
                if match.group(2).strip().split(" ")[0] == "python":
                    lines.append(number + 1)
        elif line.strip() == inside or (match and match.group(1).startswith(inside) and not match.group(2).strip()):
            inside = None
    return lines
