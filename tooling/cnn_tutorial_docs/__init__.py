"""MkDocs plugins that build this site: executed notebooks, MathML, page content, i18n glue, glossary, API pages, links.

They are registered as entry points in `pyproject.toml`, so a plain
`mkdocs build` or `mkdocs serve` does everything; nothing runs before MkDocs.
"""
