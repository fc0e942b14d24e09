"""A Pygments filter that keeps highlighted code small: plain names and whitespace as text.

Material's theme colours a plain name (`.n`) exactly like unmarked code text
(`--md-code-hl-name-color` is `--md-code-fg-color`) and does not style
whitespace (`.w`), yet Pygments wraps every such token in a `<span>`. On the
chapters, which show their code, those spans were about a third of the page's
HTML and pushed long pages past the 200 KB budget. This filter turns exactly
`Name` and `Text.Whitespace` tokens into plain text (their subtypes, such as
builtins and function names, keep their colour), so the HTML formatter merges
them with the text around them. Registered as the Pygments filter `plainnames`
and enabled for Python in mkdocs.yml (`pymdownx.highlight.extend_pygments_lang`).
"""

from pygments.filter import Filter
from pygments.token import Name, Text


class PlainNamesFilter(Filter):
    """Plain `Name` and whitespace tokens become `Text`.

    Examples:
        >>> from pygments.lexers import PythonLexer
        >>> lexer = PythonLexer()
        >>> lexer.add_filter(PlainNamesFilter())
        >>> [(str(t), v) for t, v in lexer.get_tokens("x = len(y)\\n")][:5]
        [('Token.Text', 'x'), ('Token.Text', ' '), ('Token.Operator', '='), ('Token.Text', ' '), ('Token.Name.Builtin', 'len')]
    """

    def filter(self, lexer, stream):
        for token, value in stream:
            yield (Text if token is Name or token is Text.Whitespace else token), value
