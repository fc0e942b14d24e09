"""Arithmetic expression trees: the generated data of the recursive-nn chapter.

中文：算术表达式树：“递归神经网络”一章所用的生成数据。

An expression such as ``(3 + 4) × (9 − 2)`` is a binary tree: digits at the
leaves, operators at the inner nodes. This module generates such trees from a
seed, evaluates and prints them, and draws them. (The recursive network that
learns on them, and the level-by-level batching, are written in the chapter.)
"""

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Union

if TYPE_CHECKING:  # annotations only: matplotlib is imported when a plot is drawn
    from matplotlib.axes import Axes

OPS = ("+", "-", "×")


class Node(NamedTuple):
    """An inner node: an operator from `OPS` and two subtrees."""

    op: str
    left: "Tree"
    right: "Tree"


#: A tree is a digit (a leaf, an `int` 0–9) or a `Node`.
Tree = Union[int, Node]


def random_tree(depth: int, rng: random.Random, max_digit: int = 9) -> Tree:
    """A random expression tree of exactly the given depth.

    The depth is the number of operators on the longest path from the root to
    a leaf: a digit has depth 0, ``3 + 4`` depth 1. One child of the root has
    depth `depth - 1`, the other a random depth below that.

    Args:
        depth: The tree's depth, 0 or more.
        rng: The random generator (pass a seeded `random.Random`).
        max_digit: Leaves are digits 0..max_digit.

    Returns:
        The tree.

    Raises:
        ValueError: If `depth` is negative.

    Examples:
        >>> [tree_depth(random_tree(d, random.Random(0))) for d in range(5)]
        [0, 1, 2, 3, 4]
        >>> random_tree(-1, random.Random(0))
        Traceback (most recent call last):
        ...
        ValueError: expected a depth of 0 or more, got -1
    """
    if depth < 0:
        raise ValueError(f"expected a depth of 0 or more, got {depth}")
    if depth == 0:
        return rng.randint(0, max_digit)
    op = rng.choice(OPS)
    deep = random_tree(depth - 1, rng, max_digit)
    other = random_tree(rng.randint(0, depth - 1), rng, max_digit)
    return Node(op, deep, other) if rng.random() < 0.5 else Node(op, other, deep)


def make_trees(n: int, depths: Sequence[int] = (1, 2, 3, 4), seed: int = 0) -> list[Tree]:
    """`n` random trees, each of a depth drawn uniformly from `depths`.

    Args:
        n: How many trees.
        depths: The depths to draw from.
        seed: Seed of the random generator; the same seed gives the same trees.

    Returns:
        The trees.

    Raises:
        ValueError: If `depths` is empty or has a negative depth.

    Examples:
        >>> trees = make_trees(100, depths=[1, 3], seed=0)
        >>> sorted({tree_depth(t) for t in trees}), make_trees(100, depths=[1, 3], seed=0) == trees
        ([1, 3], True)
        >>> make_trees(5, depths=[])
        Traceback (most recent call last):
        ...
        ValueError: expected one or more depths of 0 or more, got []
    """
    if not depths or min(depths) < 0:
        raise ValueError(f"expected one or more depths of 0 or more, got {list(depths)}")
    rng = random.Random(seed)
    return [random_tree(rng.choice(depths), rng) for _ in range(n)]


def tree_value(tree: Tree) -> int:
    """The exact integer value of the expression (a recursive function, as in any textbook).

    Args:
        tree: The expression.

    Returns:
        Its value.

    Examples:
        >>> tree_value(Node("×", Node("+", 3, 4), Node("-", 2, 9)))
        -49
    """
    if isinstance(tree, int):
        return tree
    left, right = tree_value(tree.left), tree_value(tree.right)
    if tree.op == "+":
        return left + right
    if tree.op == "-":
        return left - right
    return left * right


def tree_depth(tree: Tree) -> int:
    """Operators on the longest root-to-leaf path; 0 for a digit.

    Examples:
        >>> tree_depth(7), tree_depth(Node("+", Node("-", 1, 2), 3))
        (0, 2)
    """
    if isinstance(tree, int):
        return 0
    return 1 + max(tree_depth(tree.left), tree_depth(tree.right))


def tree_to_string(tree: Tree, top: bool = True) -> str:
    """The expression in infix notation, with brackets around every inner subexpression.

    Args:
        tree: The expression.
        top: Whether this is the whole expression (no brackets around it).

    Returns:
        The text.

    Examples:
        >>> tree_to_string(Node("×", Node("+", 3, 4), 2))
        '(3 + 4) × 2'
    """
    if isinstance(tree, int):
        return str(tree)
    text = f"{tree_to_string(tree.left, False)} {tree.op} {tree_to_string(tree.right, False)}"
    return text if top else f"({text})"


def draw_tree(tree: Tree, ax: "Axes | None" = None, modulus: int | None = None) -> "Axes":
    """Draw an expression tree: leaves spread left to right, each parent above its children.

    Args:
        tree: The tree.
        ax: A matplotlib `Axes` to draw into (a new figure if `None`).
        modulus: If given, write each node's value mod `modulus` under it.

    Returns:
        The `Axes`.

    Examples:
        >>> ax = draw_tree(Node("+", 3, Node("×", 4, 2)), modulus=5)
        >>> sorted(t.get_text() for t in ax.texts)
        ['+', '2', '3', '4', '×', '≡1', '≡2', '≡3', '≡3', '≡4']
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    leaves = iter(range(1_000_000))

    def place(node: Tree, level: int) -> tuple[float, float]:
        if isinstance(node, int):
            x, text = float(next(leaves)), str(node)
        else:
            left, right = place(node.left, level + 1), place(node.right, level + 1)
            x, text = (left[0] + right[0]) / 2, node.op
            for child in (left, right):
                ax.plot([x, child[0]], [-level, child[1]], color="0.6", zorder=1)
        ax.text(x, -level, text, ha="center", va="center", fontsize=12, zorder=3,
                bbox={"boxstyle": "circle", "facecolor": "white" if isinstance(node, int) else "#dbe8f6",
                      "edgecolor": "0.4"})
        if modulus is not None:
            ax.text(x, -level - 0.32, f"≡{tree_value(node) % modulus}", ha="center", va="top",
                    fontsize=8, color="#b03a2e")
        return x, -level

    place(tree, 0)
    ax.set_axis_off()
    ax.margins(0.15)
    return ax
