"""The shipped corpus, word segmentation and skip-gram with negative sampling.

Independent checks: the corpus files regenerate byte for byte; jieba keeps
every group word whole; the skip-gram loss agrees with a softplus formula and
its gradients with finite differences; negatives follow unigram^0.75; a short
training run puts words of one group closer together than words of different
groups.
"""

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from cnn_tutorial import embeddings, toy_corpus
from cnn_tutorial.embeddings import (
    SkipGram,
    Vocabulary,
    corpus_file,
    load_corpus,
    nearest_neighbours,
    noise_distribution,
    project_2d,
    skipgram_pairs,
    tokenize,
    train_skipgram,
)
from cnn_tutorial.toy_corpus import GLOSSES, SUBGROUPS, WORD_GROUPS

GROUP_WORDS = {w for _, _, words in WORD_GROUPS.values() for w in words}


@pytest.fixture(scope="module")
def tokenized():
    return [tokenize(s) for s in load_corpus()]


# --- the corpus -----------------------------------------------------------------


def test_shipped_files_are_exactly_what_the_generator_writes(tmp_path):
    corpus, dictionary = toy_corpus.write_corpus(tmp_path)
    assert corpus.read_bytes() == corpus_file(toy_corpus.CORPUS_FILE).read_bytes()
    assert dictionary.read_bytes() == corpus_file(toy_corpus.DICT_FILE).read_bytes()


def test_corpus_is_found_as_package_data_and_documented():
    assert corpus_file().is_file() and corpus_file(toy_corpus.DICT_FILE).is_file()
    readme = corpus_file("README.md").read_text(encoding="utf-8")
    assert "MIT" in readme and "python -m cnn_tutorial.toy_corpus" in readme


def test_corpus_size_and_content():
    sentences = load_corpus()
    assert len(sentences) == toy_corpus.NUM_GENERATED + len(toy_corpus.HANDWRITTEN)
    assert all(sentences) and all(s.endswith(("。", "？")) for s in sentences)
    assert set(toy_corpus.HANDWRITTEN) <= set(sentences)
    assert corpus_file().read_bytes().__len__() < 300_000


def test_missing_corpus_file_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="cnn_tutorial/corpus"):
        corpus_file("no-such-file.txt")


def test_generation_is_deterministic_and_seed_dependent():
    assert toy_corpus.generate_sentences(50, seed=1) == toy_corpus.generate_sentences(50, seed=1)
    assert toy_corpus.generate_sentences(50, seed=1) != toy_corpus.generate_sentences(50, seed=2)
    with pytest.raises(ValueError, match="non-negative"):
        toy_corpus.generate_sentences(-1)


def test_templates_only_use_known_slots_and_subgroups_are_inside_their_groups():
    for template in toy_corpus.TEMPLATES:
        for part in template.split("{")[1:]:
            slot = part.split("}")[0]
            assert slot in WORD_GROUPS or slot in SUBGROUPS, (template, slot)
    for parent, _, words in SUBGROUPS.values():
        assert set(words) <= set(WORD_GROUPS[parent][2])


def test_every_group_word_has_a_gloss_and_occurs_often():
    assert GROUP_WORDS <= set(GLOSSES)
    counts = Counter(w for s in load_corpus() for w in GROUP_WORDS if w in s)
    assert min(counts[w] for w in GROUP_WORDS) >= 40


# --- segmentation ----------------------------------------------------------------


def test_segmentation_keeps_every_group_word_whole(tokenized):
    legitimate = {"四川", "七天", "兵马俑"}  # real words of the hand-written sentences
    glued = {
        token
        for sentence in tokenized
        for token in sentence
        if token not in GROUP_WORDS and token not in legitimate and any(w in token for w in GROUP_WORDS)
    }
    assert glued == set()
    seen = {token for sentence in tokenized for token in sentence}
    assert GROUP_WORDS <= seen


def test_segmentation_loses_no_character(tokenized):
    for sentence, tokens in zip(load_corpus()[:500], tokenized[:500]):
        assert "".join(tokens) == "".join(c for c in sentence if c not in embeddings.PUNCTUATION)


def test_tokenize_is_deterministic_and_rejects_non_strings():
    sentence = "奶奶明天坐公交车去重庆。"
    assert tokenize(sentence) == tokenize(sentence) == ["奶奶", "明天", "坐", "公交车", "去", "重庆"]
    assert tokenize(sentence, keep_punctuation=True)[-1] == "。"
    with pytest.raises(TypeError, match="must be a str"):
        tokenize(["奶奶"])


def test_user_dictionary_splits_numbers_from_measure_words():
    assert tokenize("我们班分成了五个小组", user_dict=False) != tokenize("我们班分成了五个小组")
    assert "五" in tokenize("我们班分成了五个小组")


# --- vocabulary and pairs ------------------------------------------------------------


def test_vocabulary_orders_by_count_then_word():
    vocab = Vocabulary.build([["b", "a", "c", "a"], ["c", "d"]])
    assert vocab.words == ("a", "c", "b", "d")
    assert vocab.counts.tolist() == [2, 2, 1, 1]
    assert "a" in vocab and "z" not in vocab and len(vocab) == 4
    assert vocab.encode(["d", "z", "a"], skip_unknown=True) == [3, 0]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        vocab.encode(["z"])


def test_vocabulary_min_count():
    vocab = Vocabulary.build([["a", "a", "b"]], min_count=2)
    assert vocab.words == ("a",)
    with pytest.raises(ValueError, match="at least 1"):
        Vocabulary.build([["a"]], min_count=0)
    with pytest.raises(ValueError, match="no word occurs"):
        Vocabulary.build([["a"]], min_count=2)


def test_skipgram_pairs_match_a_brute_force_count():
    sentences = [[1, 2, 3, 4, 5], [6, 7], [8]]
    for window in (1, 2, 3, 10):
        pairs = {tuple(p) for p in skipgram_pairs(sentences, window).tolist()}
        expected = {
            (s[i], s[j])
            for s in sentences
            for i in range(len(s))
            for j in range(len(s))
            if i != j and abs(i - j) <= window
        }
        assert pairs == expected
    assert skipgram_pairs([[1]], 2).shape == (0, 2)
    with pytest.raises(ValueError, match="at least 1"):
        skipgram_pairs(sentences, 0)


# --- negative sampling -------------------------------------------------------------------


def test_noise_distribution_powers():
    counts = torch.tensor([81, 16, 1, 0])
    p = noise_distribution(counts, power=0.75)
    assert torch.allclose(p, torch.tensor([27.0, 8.0, 1.0, 0.0]) / 36)
    assert torch.allclose(noise_distribution(counts, 0.0)[:3], torch.full((3,), 0.25))
    with pytest.raises(ValueError, match="non-negative"):
        noise_distribution(torch.tensor([1, -1]))


def test_drawn_negatives_follow_the_noise_distribution():
    noise = noise_distribution(torch.tensor([81, 16, 1]))
    generator = torch.Generator().manual_seed(0)
    drawn = torch.multinomial(noise, 200_000, replacement=True, generator=generator)
    frequencies = torch.bincount(drawn, minlength=3) / 200_000
    assert torch.allclose(frequencies, noise, atol=0.005)


# --- the model -------------------------------------------------------------------------------


def test_loss_equals_the_softplus_form():
    torch.manual_seed(0)
    model = SkipGram(12, 5)
    torch.nn.init.normal_(model.context.weight)
    center, context = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    negatives = torch.tensor([[7, 8], [9, 10], [11, 0]])
    u = model.center.weight[center]
    expected = 0.0
    for b in range(3):
        expected += F.softplus(-(u[b] @ model.context.weight[context[b]]))
        for n in negatives[b]:
            expected += F.softplus(u[b] @ model.context.weight[n])
    assert torch.allclose(model(center, context, negatives), expected / 3)


def test_initial_loss_is_k_plus_one_log_two():
    model = SkipGram(20, 8)
    negatives = torch.randint(0, 20, (7, 4))
    loss = model(torch.arange(7), torch.arange(7, 14), negatives)
    assert loss.item() == pytest.approx(5 * math.log(2), rel=1e-6)


def test_loss_gradient_matches_finite_differences():
    torch.manual_seed(1)
    model = SkipGram(6, 3).double()
    torch.nn.init.normal_(model.context.weight)
    batch = (torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([[4, 5], [5, 0]]))

    def loss(center, context):
        weights = {"center.weight": center, "context.weight": context}
        return torch.func.functional_call(model, weights, batch)

    assert torch.autograd.gradcheck(loss, (model.center.weight.detach().requires_grad_(),
                                           model.context.weight.detach().requires_grad_()))


def test_train_skipgram_checks_shapes_and_is_reproducible():
    pairs = torch.tensor([[0, 1], [1, 0], [2, 3], [3, 2]])
    noise = torch.full((4,), 0.25)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SkipGram(4, 3)
        runs.append(train_skipgram(model, pairs, noise, epochs=3, batch_size=2, seed=5))
    assert runs[0] == runs[1] and len(runs[0]) == 6
    with pytest.raises(ValueError, match=r"shaped \(P, 2\)"):
        train_skipgram(SkipGram(4, 3), pairs[:, 0], noise)
    with pytest.raises(ValueError, match="one probability per word"):
        train_skipgram(SkipGram(4, 3), pairs, torch.full((5,), 0.2))


def test_training_on_the_corpus_groups_words(tokenized):
    vocab = Vocabulary.build(tokenized)
    pairs = skipgram_pairs([vocab.encode(s) for s in tokenized], window=2)
    torch.manual_seed(0)
    model = SkipGram(len(vocab), 16)
    losses = train_skipgram(model, pairs, noise_distribution(vocab.counts), epochs=2, batch_size=2048, lr=0.02)
    assert losses[-1] < losses[0] - 1.5
    unit = F.normalize(model.center.weight.detach(), dim=1)
    within, across = [], []
    groups = [vocab.encode(words) for _, _, words in WORD_GROUPS.values()]
    for g, ids in enumerate(groups):
        for h, other in enumerate(groups):
            similarity = unit[ids] @ unit[other].T
            if g == h:
                within.append(similarity[~torch.eye(len(ids), dtype=torch.bool)].mean())
            else:
                across.append(similarity.mean())
    assert min(within) > max(across)


# --- looking at the vectors -----------------------------------------------------------------


def test_nearest_neighbours_ranks_by_cosine_and_excludes_the_query():
    vocab = Vocabulary(("a", "b", "c", "d"), torch.tensor([4, 3, 2, 1]))
    vectors = torch.tensor([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    result = nearest_neighbours(vectors, vocab, "a", k=3)
    assert [w for w, _ in result] == ["b", "c", "d"]
    assert result[0][1] == pytest.approx(10 / math.sqrt(101))
    assert result[2][1] == pytest.approx(-1.0)
    assert len(nearest_neighbours(vectors, vocab, "a", k=99)) == 3
    with pytest.raises(KeyError):
        nearest_neighbours(vectors, vocab, "z")
    with pytest.raises(ValueError, match="one row per word"):
        nearest_neighbours(vectors[:3], vocab, "a")


def test_project_2d_matches_sklearn_pca_up_to_sign():
    from sklearn.decomposition import PCA

    torch.manual_seed(0)
    vectors = torch.randn(30, 6) @ torch.diag(torch.tensor([5.0, 3.0, 1.0, 0.5, 0.2, 0.1]))
    ours = project_2d(vectors)
    theirs = torch.from_numpy(PCA(n_components=2).fit_transform(vectors.numpy())).float()
    for axis in range(2):
        sign = torch.sign((ours[:, axis] * theirs[:, axis]).sum())
        assert torch.allclose(ours[:, axis], sign * theirs[:, axis], atol=1e-4)
    with pytest.raises(ValueError, match="N >= 2"):
        project_2d(torch.zeros(1, 3))
