"""The site's math font: a subset of DejaVu Math TeX Gyre, as WOFF2.

Browsers draw MathML natively, but stretchy brackets (⌊ ⌋, tall parentheses
around a fraction), big operators and fraction rules take their sizes from
an OpenType MATH table. A machine without a math font (a bare Linux, many
phones) draws them small and unstretched. So pages with math load this font
(the cnn-tutorial-mathml plugin marks them; `overrides/main.html` adds the
@font-face only there).

The subset keeps the MATH table and every size variant and assembly piece of
the characters it keeps (fontTools follows them), for the ranges below: about
90 KB, fetched once, only by pages with math. `tests/test_site.py` checks
that it covers every character the site's formulas use; when a new
formula needs one it lacks, add its range here and rerun:

    python -m cnn_tutorial_docs.math_font /usr/share/fonts/truetype/dejavu/DejaVuMathTeXGyre.ttf

(Debian's fonts-dejavu-extra; upstream https://dejavu-fonts.github.io/. The
licence, which allows this, is in docs/assets/fonts/DejaVuMathTeXGyre-LICENSE.txt.)
"""

import argparse
from pathlib import Path

FONT = Path(__file__).resolve().parents[2] / "docs" / "assets" / "fonts" / "DejaVuMathTeXGyre-subset.woff2"

RANGES = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1: ×, ±, ·, ¯ …
    (0x0131, 0x0131), (0x0237, 0x0237),  # dotless i and j, for accents
    (0x0300, 0x036F),  # combining accents: hats, bars, tildes
    (0x0391, 0x03C9), (0x03D1, 0x03D6), (0x03F0, 0x03F5),  # Greek
    (0x2000, 0x206F),  # punctuation: ‖ … ′ and the invisible operators
    (0x20D0, 0x20F0),  # combining marks for symbols (vector arrows)
    (0x2100, 0x214F),  # letterlike: ℓ ℝ ℕ
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators
    (0x2308, 0x230B), (0x2329, 0x232A),  # ⌈ ⌉ ⌊ ⌋ 〈 〉
    (0x239B, 0x23B3), (0x23DC, 0x23E1),  # bracket pieces, over/under braces
    (0x27E6, 0x27EF),  # ⟦ ⟧ ⟨ ⟩
    (0x2A00, 0x2AFF),  # supplemental operators
    (0x1D400, 0x1D467),  # math bold and italic Latin (a one-letter <mi>x</mi> is drawn as U+1D465)
    (0x1D6E2, 0x1D71B),  # math italic Greek
]


def codepoints() -> list[int]:
    """Every code point the subset keeps.

    Examples:
        >>> points = codepoints()
        >>> all(ord(char) in points for char in "⌊⌋∑∂≤αx")
        True
        >>> ord("中") in points  # Chinese in \\text{} is drawn by the reader's own Chinese font
        False
    """
    return [point for first, last in RANGES for point in range(first, last + 1)]


def make_subset(source: Path, target: Path = FONT) -> int:
    """Write the WOFF2 subset of `source` to `target`; returns its size in bytes."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.layout_features = ["*"]   # ssty (script-size glyphs), flac …
    options.name_IDs = ["*"]          # keep the copyright and licence notices
    options.notdef_outline = True
    font = TTFont(source)
    if "MATH" not in font:
        raise SystemExit(f"{source} has no OpenType MATH table; a math font is needed (DejaVu Math TeX Gyre)")
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints())
    subsetter.subset(font)
    font.flavor = "woff2"  # needs the brotli module
    target.parent.mkdir(parents=True, exist_ok=True)
    font.save(target)
    return target.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="DejaVuMathTeXGyre.ttf")
    args = parser.parse_args()
    print(f"{FONT}: {make_subset(args.source) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
