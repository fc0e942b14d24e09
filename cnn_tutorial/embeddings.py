"""Word embeddings: the shipped Chinese corpus, word segmentation, skip-gram with negative sampling.

The pipeline of the word-embedding chapter, one function per step:

1. `load_corpus` reads the sentences shipped in `cnn_tutorial/corpus/`
   (made by `cnn_tutorial.toy_corpus`);
2. `tokenize` splits a Chinese sentence into words with jieba;
3. `Vocabulary` numbers the words and counts them;
4. `skipgram_pairs` lists every (center word, context word) pair in a window;
5. `noise_distribution` gives the unigram^0.75 distribution negatives are drawn from;
6. `SkipGram` and `train_skipgram` learn the vectors;
7. `nearest_neighbours` and `project_2d` look at what was learned.
"""

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import torch
import torch.nn.functional as F
from torch import nn

from cnn_tutorial.toy_corpus import CORPUS_FILE, DICT_FILE

PUNCTUATION = frozenset("。，、？！；：“”‘’（）《》…— ,.?!;:()\"'\n\t")


def corpus_file(name: str = CORPUS_FILE) -> Traversable:
    """A file of the package's `corpus/` folder, found with `importlib.resources`.

    Works the same from a source checkout, an editable install or a wheel,
    as long as the package data is installed.

    Args:
        name: The file's name inside `cnn_tutorial/corpus/`.

    Returns:
        A `Traversable` (use `.read_text(encoding="utf-8")`).

    Raises:
        FileNotFoundError: If the file is not there.

    Examples:
        >>> corpus_file().name
        'zh_toy.txt'
    """
    path = resources.files("cnn_tutorial").joinpath("corpus", name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{name!r} is not in cnn_tutorial/corpus/; is the package data installed? "
            "(regenerate it with: python -m cnn_tutorial.toy_corpus)"
        )
    return path


def load_corpus() -> list[str]:
    """The shipped corpus: one short Chinese sentence per item.

    Returns:
        The sentences, in file order.

    Examples:
        >>> sentences = load_corpus()
        >>> len(sentences) > 5000, sentences[1]
        (True, '猴子在草地上跑来跑去。')
    """
    return corpus_file().read_text(encoding="utf-8").splitlines()


@functools.cache
def _tokenizer(user_dict: bool):
    try:
        import jieba
    except ImportError as error:
        raise ModuleNotFoundError("tokenize needs jieba for Chinese word segmentation: pip install jieba") from error

    jieba.setLogLevel(60)  # no "Building prefix dict" chatter
    tokenizer = jieba.Tokenizer()
    if user_dict:
        with resources.as_file(corpus_file(DICT_FILE)) as path:
            tokenizer.load_userdict(str(path))
    return tokenizer


def tokenize(sentence: str, *, keep_punctuation: bool = False, user_dict: bool = True) -> list[str]:
    """Split a Chinese sentence into words with jieba and the corpus's user dictionary.

    jieba runs in its dictionary-only mode (`HMM=False`): it never invents
    words that are in no dictionary, so the result depends only on the
    dictionaries and is the same on every machine.

    Args:
        sentence: Chinese text.
        keep_punctuation: Keep tokens such as "。" and "？" (dropped by default).
        user_dict: Load the corpus's user dictionary (`zh_toy_dict.txt`) on top
            of jieba's own; `False` shows what jieba does without it.

    Returns:
        The words, in order.

    Raises:
        TypeError: If `sentence` is not a string.
        ModuleNotFoundError: If jieba is not installed.

    Examples:
        >>> tokenize("爸爸明天坐公交车去成都。")
        ['爸爸', '明天', '坐', '公交车', '去', '成都']
        >>> tokenize("桌子上有三个杯子。", keep_punctuation=True)
        ['桌子', '上', '有', '三', '个', '杯子', '。']
        >>> tokenize("桌子上有三个杯子。", user_dict=False)
        ['桌子', '上', '有', '三个', '杯子']
    """
    if not isinstance(sentence, str):
        raise TypeError(f"sentence must be a str, got {type(sentence).__name__}")
    words = _tokenizer(user_dict).lcut(sentence, HMM=False)
    return [w for w in words if w.strip() and (keep_punctuation or w not in PUNCTUATION)]


@dataclass(frozen=True)
class Vocabulary:
    """Words numbered from the most to the least frequent, with their counts.

    Attributes:
        words: The words; `words[i]` has id `i`.
        counts: How often each word occurs, shaped (V,).

    Examples:
        >>> vocab = Vocabulary.build([["猫", "吃", "鱼"], ["狗", "吃", "肉"]])
        >>> vocab.words[:2], vocab.counts[:2].tolist()
        (('吃', '狗'), [2, 1])
        >>> vocab.encode(["猫", "吃"])
        [2, 0]
    """

    words: tuple[str, ...]
    counts: torch.Tensor

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> "Vocabulary":
        """Count the words of tokenized sentences; keep those seen `min_count` times or more.

        Ties in frequency are broken by the words' code points, so the ids do
        not depend on the order of the sentences.

        Args:
            sentences: Each sentence a sequence of words (from `tokenize`).
            min_count: The fewest occurrences a word needs to get an id.

        Returns:
            The vocabulary.

        Raises:
            ValueError: If `min_count` < 1 or no word is left.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        counter = Counter(word for sentence in sentences for word in sentence)
        kept = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
        if not kept:
            raise ValueError(f"no word occurs {min_count} times or more")
        return cls(tuple(kept), torch.tensor([counter[w] for w in kept]))

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """The id of each word."""
        return {word: i for i, word in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def encode(self, words: Iterable[str], *, skip_unknown: bool = False) -> list[int]:
        """The ids of `words`.

        Args:
            words: The words to look up.
            skip_unknown: Leave out words that have no id instead of raising.

        Returns:
            The ids, in the order of `words`.

        Raises:
            KeyError: For a word not in the vocabulary, unless `skip_unknown`.
        """
        ids = []
        for word in words:
            if word in self.index:
                ids.append(self.index[word])
            elif not skip_unknown:
                raise KeyError(f"{word!r} is not in the vocabulary of {len(self)} words")
        return ids


def skipgram_pairs(sentences: Iterable[Sequence[int]], window: int = 2) -> torch.Tensor:
    """Every (center, context) pair of word ids at most `window` words apart.

    Pairs never cross a sentence boundary.

    Args:
        sentences: Sentences as lists of word ids.
        window: How many words on each side count as context.

    Returns:
        A long tensor shaped (P, 2): column 0 the center word, column 1 a context word.

    Raises:
        ValueError: If `window` < 1.

    Examples:
        >>> skipgram_pairs([[10, 11, 12]], window=1).tolist()
        [[10, 11], [11, 10], [11, 12], [12, 11]]
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    pairs = [
        (center, sentence[j])
        for sentence in sentences
        for i, center in enumerate(sentence)
        for j in range(max(0, i - window), min(len(sentence), i + window + 1))
        if j != i
    ]
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)


def noise_distribution(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """The distribution negative samples are drawn from: counts^power, normalised.

    With `power` 0.75 (word2vec's choice) frequent words are drawn less often
    than their share of the text, rare words more often.

    Args:
        counts: Word counts shaped (V,).
        power: 1 gives the plain unigram distribution, 0 the uniform one.

    Returns:
        Probabilities shaped (V,), summing to 1.

    Raises:
        ValueError: If `counts` is not one-dimensional or has a negative entry.

    Examples:
        >>> noise_distribution(torch.tensor([16, 1]), power=0.75)
        tensor([0.8889, 0.1111])
        >>> noise_distribution(torch.tensor([16, 1]), power=1.0)
        tensor([0.9412, 0.0588])
    """
    if counts.dim() != 1 or bool((counts < 0).any()):
        raise ValueError(f"counts must be a 1-D tensor of non-negative counts, got shape {tuple(counts.shape)}")
    weights = counts.double() ** power
    return (weights / weights.sum()).float()


class SkipGram(nn.Module):
    """Skip-gram with negative sampling: two embedding tables and a dot product.

    Every word has two vectors: `center(w)` when it is the word in the middle
    and `context(w)` when it is a neighbour. For a true pair (c, o) and k
    noise words n_1..n_k the loss is

        -log σ(center(c)·context(o)) - Σ_i log σ(-center(c)·context(n_i)),

    i.e. a logistic regression telling the true neighbour from the noise.
    After training, `center.weight` holds the word vectors.

    Args:
        vocab_size: Number of words V.
        dim: Length of each vector.

    Examples:
        >>> model = SkipGram(vocab_size=10, dim=4)
        >>> model.center.weight.shape
        torch.Size([10, 4])
        >>> loss = model(torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[5, 6], [7, 8]]))
        >>> round(loss.item(), 4)  # context vectors start at zero: 3 × log 2
        2.0794
    """

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.center = nn.Embedding(vocab_size, dim)
        self.context = nn.Embedding(vocab_size, dim)
        # word2vec's initialisation: small random center vectors, zero context vectors
        nn.init.uniform_(self.center.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.context.weight)

    def forward(self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Mean loss over a batch.

        Args:
            center: Center word ids shaped (B,).
            context: True context word ids shaped (B,).
            negatives: Noise word ids shaped (B, k).

        Returns:
            The loss, a scalar.
        """
        u = self.center(center)                                      # (B, D)
        positive = (u * self.context(context)).sum(dim=1)            # (B,)
        negative = torch.bmm(self.context(negatives), u.unsqueeze(2)).squeeze(2)  # (B, k)
        loss = -F.logsigmoid(positive) - F.logsigmoid(-negative).sum(dim=1)
        return loss.mean()


def train_skipgram(
    model: SkipGram,
    pairs: torch.Tensor,
    noise: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 512,
    negatives: int = 5,
    lr: float = 0.01,
    seed: int = 0,
) -> list[float]:
    """Train `model` on skip-gram pairs with Adam, drawing fresh negatives for every batch.

    Args:
        model: A `SkipGram`.
        pairs: (center, context) ids shaped (P, 2), from `skipgram_pairs`.
        noise: The distribution to draw negatives from, from `noise_distribution`.
        epochs: Passes over all pairs.
        batch_size: Pairs per step.
        negatives: Noise words per pair (k).
        lr: Adam's learning rate.
        seed: Seeds the shuffling and the negative samples.

    Returns:
        The loss of every step, in order.

    Raises:
        ValueError: If `pairs` is not shaped (P, 2) or `noise` does not have one entry per word.

    Examples:
        >>> model = SkipGram(3, 2)
        >>> pairs = torch.tensor([[0, 1], [1, 0], [2, 2]])
        >>> losses = train_skipgram(model, pairs, torch.ones(3) / 3, epochs=2, batch_size=2)
        >>> len(losses)
        4
    """
    if pairs.dim() != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be shaped (P, 2), got {tuple(pairs.shape)}")
    if noise.shape != (model.center.num_embeddings,):
        raise ValueError(
            f"noise must have one probability per word ({model.center.num_embeddings}), got {tuple(noise.shape)}"
        )
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(pairs), generator=generator)
        for start in range(0, len(pairs), batch_size):
            batch = pairs[order[start : start + batch_size]]
            drawn = torch.multinomial(noise, len(batch) * negatives, replacement=True, generator=generator)
            loss = model(batch[:, 0], batch[:, 1], drawn.view(len(batch), negatives))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def nearest_neighbours(
    vectors: torch.Tensor, vocab: Vocabulary, word: str, k: int = 5
) -> list[tuple[str, float]]:
    """The `k` words whose vectors have the highest cosine similarity with `word`'s.

    Args:
        vectors: One row per word of `vocab`, shaped (V, D).
        vocab: The vocabulary the rows belong to.
        word: The query word (not counted among its own neighbours).
        k: How many neighbours.

    Returns:
        (word, cosine similarity) pairs, most similar first.

    Raises:
        KeyError: If `word` is not in the vocabulary.
        ValueError: If `vectors` does not have one row per word.

    Examples:
        >>> vocab = Vocabulary(("猫", "狗", "车"), torch.tensor([3, 2, 1]))
        >>> vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> [(w, round(s, 3)) for w, s in nearest_neighbours(vectors, vocab, "猫", k=2)]
        [('狗', 0.994), ('车', 0.0)]
    """
    if vectors.dim() != 2 or len(vectors) != len(vocab):
        raise ValueError(f"vectors must be shaped ({len(vocab)}, D), one row per word, got {tuple(vectors.shape)}")
    query = vocab.encode([word])[0]
    unit = F.normalize(vectors.detach().float(), dim=1)
    similarity = unit @ unit[query]
    similarity[query] = -float("inf")
    scores, ids = similarity.topk(min(k, len(vocab) - 1))
    return [(vocab.words[i], s) for i, s in zip(ids.tolist(), scores.tolist())]


def project_2d(vectors: torch.Tensor) -> torch.Tensor:
    """Principal component analysis down to two dimensions, by an exact SVD.

    Centres the rows and projects them onto the two directions of largest
    variance. Deterministic (unlike `torch.pca_lowrank`, which is randomised
    and meant for large matrices). The sign of each axis is arbitrary.

    Args:
        vectors: Shaped (N, D) with N >= 2 and D >= 2.

    Returns:
        Coordinates shaped (N, 2).

    Raises:
        ValueError: If `vectors` is not (N, D) with N, D >= 2.

    Examples:
        Four points on a line in 3-D lie on the first axis, at their distances
        from the mean; the second coordinate is zero:

        >>> points = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 2.0, 0.0], [3.0, 3.0, 0.0]])
        >>> xy = project_2d(points)
        >>> xy[:, 0].abs().round(decimals=3)
        tensor([2.1210, 0.7070, 0.7070, 2.1210])
        >>> bool(xy[:, 1].abs().max() < 1e-5)
        True
    """
    if vectors.dim() != 2 or min(vectors.shape) < 2:
        raise ValueError(f"vectors must be shaped (N, D) with N >= 2 and D >= 2, got {tuple(vectors.shape)}")
    centred = vectors.detach().float() - vectors.detach().float().mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return centred @ vh[:2].T
