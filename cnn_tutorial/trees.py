"""A recursive neural network (递归神经网络) on generated arithmetic expression trees.

An expression such as ``(3 + 4) × (9 − 2)`` is a binary tree: digits at the
leaves, operators at the inner nodes. A recursive network gives every leaf a
vector and computes the vector of an inner node from its two children's
vectors with one shared function, `compose`, bottom-up until the root. Here
it learns the value of each (sub)expression modulo a small number.

Two ways to run the same network:

- `TreeRNN.encode_tree`: literal recursion, one tree at a time;
- `TreeRNN.encode`: level by level over a whole `TreeBatch` — every node of
  the same height (distance from the leaves) in every tree of the batch is
  composed in one batched call, since its children are all lower and ready.

Both give the same vectors; the second is much faster.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Union

if TYPE_CHECKING:  # annotations only: matplotlib is imported when a plot is drawn
    from matplotlib.axes import Axes

import torch
import torch.nn.functional as F
from torch import nn

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
        >>> tree = random_tree(2, random.Random(0))
        >>> tree_to_string(tree), tree_depth(tree)
        ('(0 - 8) - (5 - 8)', 2)
    """
    if depth < 0:
        raise ValueError(f"depth must be 0 or more, got {depth}")
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

    Examples:
        >>> trees = make_trees(4, depths=[1], seed=0)
        >>> [tree_to_string(t) for t in trees]
        ['0 - 8', '5 - 8', '8 + 9', '1 - 5']
        >>> make_trees(4, depths=[1], seed=0) == trees
        True
    """
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


@dataclass
class TreeBatch:
    """Several trees flattened into arrays of nodes, children before parents.

    Attributes:
        token: Per node, the digit (leaf) or the index into `OPS` (inner node), shaped (N,).
        left: Index of the left child, -1 for leaves, shaped (N,).
        right: Index of the right child, -1 for leaves, shaped (N,).
        height: 0 for leaves, else 1 + the larger height of the children, shaped (N,).
        value: The exact value of the subexpression rooted at each node, shaped (N,).
        roots: Index of each tree's root node, shaped (B,).
        levels: For each height h, the indices of all nodes of height h.
    """

    token: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    height: torch.Tensor
    value: torch.Tensor
    roots: torch.Tensor
    levels: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.roots)

    @property
    def num_nodes(self) -> int:
        """Nodes in all trees together."""
        return len(self.token)


def batch_trees(trees: Sequence[Tree]) -> TreeBatch:
    """Flatten trees into one `TreeBatch` (post-order: children get lower indices than parents).

    Args:
        trees: The trees of the batch.

    Returns:
        The batch; `roots[i]` is the node index of `trees[i]`'s root.

    Raises:
        ValueError: If `trees` is empty.

    Examples:
        >>> batch = batch_trees([Node("+", 3, 4), 5])
        >>> batch.token.tolist(), batch.left.tolist(), batch.height.tolist(), batch.roots.tolist()
        ([3, 4, 0, 5], [-1, -1, 0, -1], [0, 0, 1, 0], [2, 3])
        >>> [level.tolist() for level in batch.levels]
        [[0, 1, 3], [2]]
    """
    if not trees:
        raise ValueError("batch_trees needs at least one tree")
    token, left, right, height, value, roots = [], [], [], [], [], []

    def add(tree: Tree) -> int:
        if isinstance(tree, int):
            token.append(tree), left.append(-1), right.append(-1), height.append(0), value.append(tree)
        else:
            i, j = add(tree.left), add(tree.right)
            token.append(OPS.index(tree.op)), left.append(i), right.append(j)
            height.append(1 + max(height[i], height[j]))
            value.append(tree_value(Node(tree.op, value[i], value[j])))
        return len(token) - 1

    for tree in trees:
        roots.append(add(tree))
    heights = torch.tensor(height)
    levels = [torch.nonzero(heights == h).flatten() for h in range(int(heights.max()) + 1)]
    return TreeBatch(
        torch.tensor(token), torch.tensor(left), torch.tensor(right), heights,
        torch.tensor(value), torch.tensor(roots), levels,
    )


class TreeRNN(nn.Module):
    """A recursive network over expression trees: one `compose` function for every inner node.

    A leaf's vector is the embedding of its digit. An inner node's vector is
    ``compose(left, right, op)``: a small two-layer network of the two
    children's vectors and an embedding of the operator. A linear layer reads
    the class (the value modulo `num_classes`) off any node's vector.

    Args:
        hidden: Length of every node's vector.
        num_classes: The modulus; labels are values mod `num_classes`.

    Examples:
        >>> model = TreeRNN(hidden=8, num_classes=5)
        >>> model(batch_trees([Node("+", 3, 4), 5])).shape  # one row of logits per node
        torch.Size([4, 5])
    """

    def __init__(self, hidden: int = 64, num_classes: int = 5) -> None:
        super().__init__()
        self.digit = nn.Embedding(10, hidden)
        self.op = nn.Embedding(len(OPS), 2 * hidden)
        self.combine = nn.Linear(2 * hidden, 2 * hidden)
        self.squeeze = nn.Linear(2 * hidden, hidden)
        self.classify = nn.Linear(hidden, num_classes)

    def compose(self, left: torch.Tensor, right: torch.Tensor, op: torch.Tensor) -> torch.Tensor:
        """The vectors of M parent nodes from those of their children.

        Args:
            left: The left children's vectors, shaped (M, hidden).
            right: The right children's vectors, shaped (M, hidden).
            op: The parents' operator ids (indices into `OPS`), shaped (M,).

        Returns:
            The parents' vectors, shaped (M, hidden).
        """
        mixed = F.relu(self.combine(torch.cat([left, right], dim=1)) + self.op(op))
        return torch.tanh(self.squeeze(mixed))

    def encode_tree(self, tree: Tree) -> torch.Tensor:
        """The root vector of one tree, shaped (hidden,), by plain recursion."""
        if isinstance(tree, int):
            return self.digit(torch.tensor(tree))
        left = self.encode_tree(tree.left).unsqueeze(0)
        right = self.encode_tree(tree.right).unsqueeze(0)
        return self.compose(left, right, torch.tensor([OPS.index(tree.op)]))[0]

    def encode(self, batch: TreeBatch) -> torch.Tensor:
        """Every node's vector, shaped (N, hidden), one batched `compose` per height."""
        leaves = batch.levels[0]
        states = torch.zeros(batch.num_nodes, self.digit.embedding_dim)
        states = states.index_copy(0, leaves, self.digit(batch.token[leaves]))
        for nodes in batch.levels[1:]:
            parents = self.compose(states[batch.left[nodes]], states[batch.right[nodes]], batch.token[nodes])
            states = states.index_copy(0, nodes, parents)  # out of place: autograd keeps every level
        return states

    def forward(self, batch: TreeBatch) -> torch.Tensor:
        """Logits for every node of the batch, shaped (N, num_classes)."""
        return self.classify(self.encode(batch))


def train_tree_model(
    model: TreeRNN,
    trees: Sequence[Tree],
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """Train with Adam and cross-entropy on the label of **every** node of every tree.

    Every subtree is itself an expression with a known value, so each node is
    a training example (as in the Stanford Sentiment Treebank, where every
    phrase of every sentence is labelled). A node's label is its value modulo
    the model's number of classes.

    Args:
        model: The network to train.
        trees: The training trees.
        epochs: Passes over all trees.
        batch_size: Trees per step, computed level by level together.
        lr: Adam's learning rate.
        seed: Seeds the order of the trees.

    Returns:
        The mean loss of each epoch.

    Raises:
        ValueError: If `trees` is empty.

    Examples:
        >>> model = TreeRNN(hidden=8, num_classes=3)
        >>> losses = train_tree_model(model, make_trees(20, seed=1), epochs=2, batch_size=8)
        >>> len(losses)
        2
    """
    if not trees:
        raise ValueError("train_tree_model needs at least one tree")
    generator = random.Random(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    modulus = model.classify.out_features
    order = list(range(len(trees)))
    history = []
    model.train()
    for _ in range(epochs):
        generator.shuffle(order)
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = batch_trees([trees[i] for i in order[start : start + batch_size]])
            loss = F.cross_entropy(model(batch), batch.value % modulus)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.num_nodes
            count += batch.num_nodes
        history.append(total / count)
    return history


@torch.no_grad()
def predict(model: TreeRNN, trees: Sequence[Tree]) -> torch.Tensor:
    """The predicted class (value mod the number of classes) of each tree's root.

    Args:
        model: The network.
        trees: The trees.

    Returns:
        Class ids shaped (len(trees),).

    Examples:
        >>> predict(TreeRNN(hidden=8), [Node("+", 3, 4), 5]).shape
        torch.Size([2])
    """
    model.eval()
    batch = batch_trees(trees)
    return model(batch)[batch.roots].argmax(dim=1)


def accuracy_by_depth(model: TreeRNN, trees: Sequence[Tree]) -> dict[int, tuple[int, float]]:
    """Root accuracy for the trees of each depth.

    Args:
        model: The trained network.
        trees: The trees to evaluate; labels are their values mod the number of classes.

    Returns:
        ``{depth: (number of trees, accuracy)}``, by increasing depth.

    Examples:
        >>> result = accuracy_by_depth(TreeRNN(hidden=8), make_trees(30, depths=[1, 2], seed=0))
        >>> sorted(result), sum(n for n, _ in result.values())
        ([1, 2], 30)
    """
    modulus = model.classify.out_features
    predicted = predict(model, trees)
    truth = torch.tensor([tree_value(t) % modulus for t in trees])
    depths = torch.tensor([tree_depth(t) for t in trees])
    result = {}
    for d in sorted(set(depths.tolist())):
        mask = depths == d
        result[d] = (int(mask.sum()), (predicted[mask] == truth[mask]).float().mean().item())
    return result
