"""Expression trees, the recursive network and level-by-level batching.

Independent checks: tree values against Python's own `eval`; depths and
heights against brute-force definitions; the level-wise forward pass and its
gradients against plain recursion, tree by tree; a short training run beats
guessing.
"""

import random

import pytest
import torch
import torch.nn.functional as F

from cnn_tutorial.trees import (
    OPS,
    Node,
    TreeRNN,
    accuracy_by_depth,
    batch_trees,
    draw_tree,
    make_trees,
    predict,
    random_tree,
    train_tree_model,
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


def test_to_string_brackets():
    assert tree_to_string(7) == "7"
    assert tree_to_string(Node("-", 1, Node("-", 2, 3))) == "1 - (2 - 3)"


def _height(tree):
    return 0 if isinstance(tree, int) else 1 + max(_height(tree.left), _height(tree.right))


def _subtrees(tree):
    if isinstance(tree, int):
        return [tree]
    return _subtrees(tree.left) + _subtrees(tree.right) + [tree]


def test_batch_lists_every_subtree_in_post_order_with_its_value_and_height():
    trees = make_trees(40, depths=[0, 1, 2, 3], seed=3)
    batch = batch_trees(trees)
    subtrees = [s for t in trees for s in _subtrees(t)]
    assert batch.num_nodes == len(subtrees)
    assert batch.value.tolist() == [tree_value(s) for s in subtrees]
    assert batch.height.tolist() == [_height(s) for s in subtrees]
    inner = batch.left >= 0
    assert bool((batch.left[inner] < torch.nonzero(inner).flatten()).all())
    assert bool((batch.height[batch.left[inner]] < batch.height[inner]).all())
    assert bool((batch.height[batch.right[inner]] < batch.height[inner]).all())
    assert torch.equal(torch.sort(torch.cat(batch.levels)).values, torch.arange(batch.num_nodes))
    assert [subtrees.index(t) for t in trees[:1]] == batch.roots[:1].tolist()
    assert len(batch) == 40


def test_batch_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="at least one tree"):
        batch_trees([])
    with pytest.raises(ValueError, match="at least one tree"):
        train_tree_model(TreeRNN(hidden=4), [])


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TreeRNN(hidden=16, num_classes=5)


def test_levelwise_equals_recursion_for_every_node(model):
    trees = make_trees(60, depths=[0, 1, 2, 3, 4, 5], seed=11)
    batch = batch_trees(trees)
    with torch.no_grad():
        states = model.encode(batch)
        expected = torch.stack([model.encode_tree(s) for t in trees for s in _subtrees(t)])
    assert torch.allclose(states, expected, atol=1e-6)


def test_levelwise_gradients_equal_recursive_gradients(model):
    trees = make_trees(20, seed=12)
    batch = batch_trees(trees)
    labels = batch.value[batch.roots] % 5

    F.cross_entropy(model(batch)[batch.roots], labels).backward()
    levelwise = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    roots = torch.stack([model.encode_tree(t) for t in trees])
    F.cross_entropy(model.classify(roots), labels).backward()
    for a, p in zip(levelwise, model.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)


def test_a_left_chain_is_a_recurrent_loop(model):
    digits, ops = [3, 1, 4, 1, 5], ["+", "×", "-", "+"]
    chain = digits[0]
    for op, digit in zip(ops, digits[1:]):
        chain = Node(op, chain, digit)
    with torch.no_grad():
        h = model.digit(torch.tensor([digits[0]]))
        for op, digit in zip(ops, digits[1:]):
            h = model.compose(h, model.digit(torch.tensor([digit])), torch.tensor([OPS.index(op)]))
        assert torch.equal(h[0], model.encode_tree(chain))


def test_training_learns_the_shallow_trees():
    torch.manual_seed(0)
    model = TreeRNN(hidden=32, num_classes=5)
    losses = train_tree_model(model, make_trees(600, depths=[1, 2], seed=0), epochs=8, batch_size=64, lr=5e-3)
    assert losses[-1] < losses[0] / 3
    result = accuracy_by_depth(model, make_trees(200, depths=[1], seed=1))
    assert result[1][0] == 200 and result[1][1] > 0.75  # chance is about 0.2


def test_predict_and_accuracy_by_depth_agree(model):
    trees = make_trees(50, depths=[1, 3], seed=5)
    predicted = predict(model, trees)
    truth = torch.tensor([tree_value(t) % 5 for t in trees])
    result = accuracy_by_depth(model, trees)
    correct = sum(n * acc for n, acc in result.values())
    assert round(correct) == int((predicted == truth).sum())


def test_draw_tree_places_parents_above_children():
    import matplotlib

    matplotlib.use("Agg")
    ax = draw_tree(Node("×", Node("+", 1, 2), 3))
    positions = {t.get_text(): t.get_position() for t in ax.texts}
    assert positions["×"][1] > positions["+"][1] > positions["1"][1]
    assert positions["1"][0] < positions["+"][0] < positions["2"][0]
