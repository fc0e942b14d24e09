"""Generated expression trees: values, depths, printing and drawing.

Independent checks: tree values against Python's own `eval`; depths against
the requested ones. (The recursive network and its level-by-level batching
are written and checked against plain recursion in the recursive-nn chapter.)
"""

import random

import pytest

from cnn_tutorial.expression_trees import (
    OPS,
    Node,
    draw_tree,
    make_trees,
    random_tree,
    tree_depth,
    tree_to_string,
    tree_value,
)


def test_values_agree_with_python_eval():
    for tree in make_trees(300, depths=[1, 2, 3, 4, 5], seed=2):
        assert tree_value(tree) == eval(tree_to_string(tree).replace("×", "*"))


def test_random_tree_has_exactly_the_requested_depth():
    rng = random.Random(0)
    for depth in range(7):
        for _ in range(20):
            assert tree_depth(random_tree(depth, rng)) == depth
    with pytest.raises(ValueError, match="0 or more"):
        random_tree(-1, rng)


def test_leaves_are_digits_and_ops_are_known():
    def walk(tree):
        if isinstance(tree, int):
            assert 0 <= tree <= 9
        else:
            assert tree.op in OPS
            walk(tree.left), walk(tree.right)

    for tree in make_trees(100, seed=4):
        walk(tree)


def test_make_trees_is_deterministic_and_covers_the_depths():
    a, b = make_trees(200, depths=[2, 5], seed=7), make_trees(200, depths=[2, 5], seed=7)
    assert a == b and a != make_trees(200, depths=[2, 5], seed=8)
    assert {tree_depth(t) for t in a} == {2, 5}
    with pytest.raises(ValueError, match="one or more depths"):
        make_trees(3, depths=[1, -1])


def test_to_string_brackets():
    assert tree_to_string(7) == "7"
    assert tree_to_string(Node("-", 1, Node("-", 2, 3))) == "1 - (2 - 3)"


def test_draw_tree_places_parents_above_children():
    import matplotlib

    matplotlib.use("Agg")
    ax = draw_tree(Node("×", Node("+", 1, 2), 3), modulus=5)
    positions = {t.get_text(): t.get_position() for t in ax.texts}
    assert positions["×"][1] > positions["+"][1] > positions["1"][1]
    assert positions["1"][0] < positions["+"][0] < positions["2"][0]
    assert positions["≡4"][1] < positions["×"][1]  # (1 + 2) × 3 = 9 ≡ 4 (mod 5), written under the root
