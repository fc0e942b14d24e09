"""The Chinese teaching corpus shipped in `cnn_tutorial/corpus/`: loading, word segmentation, vocabulary.

中文：随包发布的中文教学语料：读取、分词（jieba）与词表。

Infrastructure of the word-embedding chapter (the chapter itself writes
skip-gram, its training loop and the nearest-neighbor search). The corpus
is a few thousand short sentences made from sentence templates over the
word groups below; `tests/make_toy_corpus.py` in the repository regenerates
the shipped files byte for byte.
"""

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import jieba
import torch

CORPUS_FILE = "zh_toy.txt"
DICT_FILE = "zh_toy_dict.txt"
PUNCTUATION = frozenset("。，、？！；：“”‘’（）《》…— ,.?!;:()\"'\n\t")

#: The word groups, by slot name: (Chinese name, English name, words).
WORD_GROUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "A": ("动物", "animals", ("猫", "狗", "兔子", "老虎", "熊猫", "猴子", "大象", "狮子", "马", "羊")),
    "D": ("食物", "foods", ("苹果", "香蕉", "米饭", "面条", "饺子", "包子", "西瓜", "葡萄", "面包", "鸡蛋")),
    "C": ("城市", "cities", ("北京", "上海", "广州", "深圳", "成都", "杭州", "西安", "南京", "武汉", "重庆")),
    "K": ("颜色", "colors", ("红色", "蓝色", "绿色", "黄色", "白色", "黑色", "紫色", "粉色")),
    "N": ("数字", "numbers", ("两", "三", "四", "五", "六", "七", "八", "九")),
    "F": ("家人", "family", ("爸爸", "妈妈", "哥哥", "姐姐", "弟弟", "妹妹", "爷爷", "奶奶")),
    "J": ("职业", "jobs", ("老师", "医生", "护士", "司机", "厨师", "警察", "农民", "工程师")),
    "V": ("交通工具", "vehicles", ("火车", "飞机", "汽车", "地铁", "自行车", "公交车", "轮船", "出租车")),
    "W": ("星期", "weekdays", ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期天")),
}

#: Subgroups with templates of their own, so the vectors can show finer
#: structure than the nine groups: slot -> (group slot, name, words).
SUBGROUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Aw": ("A", "wild", ("老虎", "熊猫", "猴子", "大象", "狮子")),
    "Ad": ("A", "domestic", ("猫", "狗", "兔子", "马", "羊")),
    "Df": ("D", "fruit", ("苹果", "香蕉", "西瓜", "葡萄")),
    "Dc": ("D", "cooked", ("米饭", "面条", "饺子", "包子", "面包", "鸡蛋")),
    "Fm": ("F", "male", ("爸爸", "哥哥", "弟弟", "爷爷")),
    "Ff": ("F", "female", ("妈妈", "姐姐", "妹妹", "奶奶")),
    "Ww": ("W", "school day", ("星期一", "星期二", "星期三", "星期四", "星期五")),
    "We": ("W", "weekend", ("星期六", "星期天")),
}

#: English glosses of the group words, for readers of the English pages.
GLOSSES: dict[str, str] = {
    "猫": "cat", "狗": "dog", "兔子": "rabbit", "老虎": "tiger", "熊猫": "panda",
    "猴子": "monkey", "大象": "elephant", "狮子": "lion", "马": "horse", "羊": "sheep",
    "苹果": "apple", "香蕉": "banana", "米饭": "rice", "面条": "noodles", "饺子": "dumplings",
    "包子": "steamed buns", "西瓜": "watermelon", "葡萄": "grapes", "面包": "bread", "鸡蛋": "egg",
    "北京": "Beijing", "上海": "Shanghai", "广州": "Guangzhou", "深圳": "Shenzhen",
    "成都": "Chengdu", "杭州": "Hangzhou", "西安": "Xi'an", "南京": "Nanjing",
    "武汉": "Wuhan", "重庆": "Chongqing",
    "红色": "red", "蓝色": "blue", "绿色": "green", "黄色": "yellow", "白色": "white",
    "黑色": "black", "紫色": "purple", "粉色": "pink",
    "两": "two", "三": "three", "四": "four", "五": "five", "六": "six", "七": "seven",
    "八": "eight", "九": "nine",
    "爸爸": "dad", "妈妈": "mom", "哥哥": "elder brother", "姐姐": "elder sister",
    "弟弟": "younger brother", "妹妹": "younger sister", "爷爷": "grandpa", "奶奶": "grandma",
    "老师": "teacher", "医生": "doctor", "护士": "nurse", "司机": "driver", "厨师": "cook",
    "警察": "police officer", "农民": "farmer", "工程师": "engineer",
    "火车": "train", "飞机": "plane", "汽车": "car", "地铁": "metro", "自行车": "bicycle",
    "公交车": "bus", "轮船": "ship", "出租车": "taxi",
    "星期一": "Monday", "星期二": "Tuesday", "星期三": "Wednesday", "星期四": "Thursday",
    "星期五": "Friday", "星期六": "Saturday", "星期天": "Sunday",
}


def corpus_file(name: str = CORPUS_FILE) -> Traversable:
    """A file of the package's `corpus/` folder, found with `importlib.resources`.

    Works the same from a source checkout, an editable install or a wheel.

    Args:
        name: The file's name inside `cnn_tutorial/corpus/`.

    Returns:
        A `Traversable` (use `.read_text(encoding="utf-8")`).

    Raises:
        FileNotFoundError: If the file is not there.

    Examples:
        >>> corpus_file().name
        'zh_toy.txt'
        >>> corpus_file("missing.txt")
        Traceback (most recent call last):
        ...
        FileNotFoundError: expected 'missing.txt' in cnn_tutorial/corpus/, found no such file; is the package data installed?
    """
    path = resources.files("cnn_tutorial").joinpath("corpus", name)
    if not path.is_file():
        raise FileNotFoundError(
            f"expected {name!r} in cnn_tutorial/corpus/, found no such file; is the package data installed?"
        )
    return path


def load_corpus() -> list[str]:
    """The shipped corpus: one short Chinese sentence per item, in file order.

    Examples:
        >>> sentences = load_corpus()
        >>> len(sentences), all(s.endswith(("。", "？")) for s in sentences)
        (5056, True)
    """
    return corpus_file().read_text(encoding="utf-8").splitlines()


@functools.cache
def _tokenizer(user_dict: bool) -> jieba.Tokenizer:
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

    Examples:
        >>> tokenize("爸爸明天坐公交车去成都。")
        ['爸爸', '明天', '坐', '公交车', '去', '成都']
        >>> tokenize("桌子上有三个杯子。", keep_punctuation=True)
        ['桌子', '上', '有', '三', '个', '杯子', '。']
        >>> tokenize("桌子上有三个杯子。", user_dict=False)
        ['桌子', '上', '有', '三个', '杯子']
        >>> tokenize(["猫"])
        Traceback (most recent call last):
        ...
        TypeError: expected the sentence as a str, got list
    """
    if not isinstance(sentence, str):
        raise TypeError(f"expected the sentence as a str, got {type(sentence).__name__}")
    words = _tokenizer(user_dict).lcut(sentence, HMM=False)
    return [w for w in words if w.strip() and (keep_punctuation or w not in PUNCTUATION)]


@dataclass(frozen=True, eq=False)  # the generated __eq__ would compare tensors with ==, which raises
class Vocabulary:
    """Words numbered from the most to the least frequent, with their counts.

    Attributes:
        words: The words; `words[i]` has id `i`.
        counts: How often each word occurs, shaped (V,).

    Examples:
        >>> vocab = Vocabulary.build([["猫", "吃", "鱼"], ["狗", "吃", "肉"]])
        >>> vocab.words[:2], vocab.counts[:2].tolist()
        (('吃', '狗'), [2, 1])
        >>> vocab.encode(["猫", "吃"]), vocab.index["鱼"]
        ([2, 0], 4)
        >>> vocab.encode(["羊"])
        Traceback (most recent call last):
        ...
        KeyError: "expected words of the vocabulary (5 words), got '羊'"
        >>> vocab == Vocabulary.build([["狗", "吃", "肉"], ["猫", "吃", "鱼"]])  # same words, same counts
        True
    """

    words: tuple[str, ...]
    counts: torch.Tensor

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.words == other.words and torch.equal(self.counts, other.counts)

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
            raise ValueError(f"expected min_count >= 1, got {min_count}")
        counter = Counter(word for sentence in sentences for word in sentence)
        kept = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
        if not kept:
            raise ValueError(f"expected some word to occur {min_count} times or more, found none")
        return cls(tuple(kept), torch.tensor([counter[w] for w in kept]))

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """The id of each word."""
        return {word: i for i, word in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: Iterable[str]) -> list[int]:
        """The ids of `words`, in order.

        Raises:
            KeyError: For a word not in the vocabulary.
        """
        try:
            return [self.index[word] for word in words]
        except KeyError as error:
            raise KeyError(f"expected words of the vocabulary ({len(self)} words), got {error.args[0]!r}") from None
