"""The shipped Chinese corpus, its word segmentation and the vocabulary.

Independent checks: the corpus files regenerate byte for byte from
`make_toy_corpus.py`; jieba keeps every group word whole and loses no
character; the vocabulary's order does not depend on sentence order.
(Skip-gram itself is written and checked in the word-embedding chapter.)
"""

from collections import Counter

import pytest

import make_toy_corpus
from cnn_tutorial.text_corpus import (
    CORPUS_FILE,
    DICT_FILE,
    GLOSSES,
    PUNCTUATION,
    SUBGROUPS,
    WORD_GROUPS,
    Vocabulary,
    corpus_file,
    load_corpus,
    tokenize,
)

GROUP_WORDS = {w for _, _, words in WORD_GROUPS.values() for w in words}


@pytest.fixture(scope="module")
def tokenized():
    return [tokenize(s) for s in load_corpus()]


# --- the corpus -----------------------------------------------------------------


def test_shipped_files_are_exactly_what_the_generator_writes(tmp_path):
    corpus, dictionary = make_toy_corpus.write_corpus(tmp_path)
    assert corpus.read_bytes() == corpus_file(CORPUS_FILE).read_bytes()
    assert dictionary.read_bytes() == corpus_file(DICT_FILE).read_bytes()


def test_corpus_is_found_as_package_data_and_documented():
    assert corpus_file().is_file() and corpus_file(DICT_FILE).is_file()
    readme = corpus_file("README.md").read_text(encoding="utf-8")
    assert "MIT" in readme and "python tests/make_toy_corpus.py" in readme


def test_corpus_size_and_content():
    sentences = load_corpus()
    assert len(sentences) == make_toy_corpus.NUM_GENERATED + len(make_toy_corpus.HANDWRITTEN)
    assert all(sentences) and all(s.endswith(("。", "？")) for s in sentences)
    assert set(make_toy_corpus.HANDWRITTEN) <= set(sentences)
    assert len(corpus_file().read_bytes()) < 300_000


def test_missing_corpus_file_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="cnn_tutorial/corpus"):
        corpus_file("no-such-file.txt")


def test_generation_is_deterministic_and_seed_dependent():
    assert make_toy_corpus.generate_sentences(50, seed=1) == make_toy_corpus.generate_sentences(50, seed=1)
    assert make_toy_corpus.generate_sentences(50, seed=1) != make_toy_corpus.generate_sentences(50, seed=2)
    with pytest.raises(ValueError, match="non-negative"):
        make_toy_corpus.generate_sentences(-1)


def test_templates_only_use_known_slots_and_subgroups_are_inside_their_groups():
    for template in make_toy_corpus.TEMPLATES:
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
        assert "".join(tokens) == "".join(c for c in sentence if c not in PUNCTUATION)


def test_tokenize_is_deterministic_and_rejects_non_strings():
    sentence = "奶奶明天坐公交车去重庆。"
    assert tokenize(sentence) == tokenize(sentence) == ["奶奶", "明天", "坐", "公交车", "去", "重庆"]
    assert tokenize(sentence, keep_punctuation=True)[-1] == "。"
    with pytest.raises(TypeError, match="as a str, got list"):
        tokenize(["奶奶"])


def test_user_dictionary_splits_numbers_from_measure_words():
    assert tokenize("我们班分成了五个小组", user_dict=False) != tokenize("我们班分成了五个小组")
    assert "五" in tokenize("我们班分成了五个小组")


# --- vocabulary ------------------------------------------------------------------------


def test_vocabulary_orders_by_count_then_word():
    vocab = Vocabulary.build([["b", "a", "c", "a"], ["c", "d"]])
    assert vocab.words == ("a", "c", "b", "d")
    assert vocab.counts.tolist() == [2, 2, 1, 1]
    assert vocab.index == {"a": 0, "c": 1, "b": 2, "d": 3} and len(vocab) == 4
    assert Vocabulary.build([["c", "d"], ["b", "a", "c", "a"]]).words == vocab.words
    with pytest.raises(KeyError, match="expected words of the vocabulary"):
        vocab.encode(["a", "z"])


def test_vocabulary_min_count():
    vocab = Vocabulary.build([["a", "a", "b"]], min_count=2)
    assert vocab.words == ("a",)
    with pytest.raises(ValueError, match="min_count >= 1"):
        Vocabulary.build([["a"]], min_count=0)
    with pytest.raises(ValueError, match="found none"):
        Vocabulary.build([["a"]], min_count=2)


def test_vocabularies_compare_by_words_and_counts():
    vocab = Vocabulary.build([["b", "a", "c", "a"], ["c", "d"]])
    assert vocab == Vocabulary.build([["c", "d"], ["b", "a", "c", "a"]])  # the order of sentences does not matter
    assert vocab != Vocabulary.build([["b", "a", "c", "a"], ["c", "d", "d"]])  # other counts
    assert vocab != Vocabulary.build([["b", "a", "c", "a"], ["c", "e"]])  # other words
    assert vocab != ("a", "c", "b", "d")
