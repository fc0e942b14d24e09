"""How the teaching corpus in `cnn_tutorial/corpus/` was made; run it to regenerate the files.

The corpus is written for this project (MIT license, like the rest of it): a
few thousand short sentences built from hand-written sentence templates over
the word groups of `cnn_tutorial.text_corpus` (animals, foods, cities, colors,
numbers, family members, jobs, vehicles, days of the week), plus a few dozen
sentences written by hand. Words of one group fill the same slots of the same
templates, so they appear in similar contexts: exactly the signal skip-gram
learns from. This script regenerates the shipped files byte for byte
(`tests/test_text_corpus.py` checks it)::

    python tests/make_toy_corpus.py
"""

import random
from pathlib import Path

from cnn_tutorial.text_corpus import CORPUS_FILE, DICT_FILE, SUBGROUPS, WORD_GROUPS

SEED = 2024
NUM_GENERATED = 5000
PACKAGE_CORPUS = Path(__file__).resolve().parents[1] / "cnn_tutorial" / "corpus"

#: Sentence templates; `{X}` is a slot filled with a word of group X.
TEMPLATES: tuple[str, ...] = (
    # animals
    "{F}带我去动物园看{Aw}。",
    "动物园里的{Aw}正在睡觉。",
    "森林里住着{Aw}。",
    "爷爷家里养了{Ad}。",
    "农场里有很多{Ad}。",
    "这些{A}很可爱。",
    "{A}在草地上跑来跑去。",
    "我在书上看到了{A}和{A}。",
    "{A}是我最喜欢的动物。",
    "小朋友们都想看{A}。",
    # foods
    "{F}喜欢吃{D}。",
    "今天早上我吃了{D}。",
    "这些{D}很好吃。",
    "{F}去超市买{D}。",
    "这些{Df}很甜。",
    "{F}洗了一些{Df}。",
    "{F}在厨房里做{Dc}。",
    "{Dc}还很热。",
    "我最喜欢吃{D}和{D}。",
    "{W}中午我们吃{D}。",
    "{J}中午吃了{D}。",
    # cities
    "{F}明天坐{V}去{C}。",
    "我住在{C}。",
    "{C}是一座很大的城市。",
    "我们从{C}出发去{C}。",
    "{F}在{C}工作。",
    "今年夏天我们去{C}旅游。",
    "{C}的天气怎么样？",
    # colors
    "她穿着一件{K}的衣服。",
    "我最喜欢{K}。",
    "花园里开满了{K}的花。",
    "这辆{V}是{K}的。",
    "{F}买了一个{K}的书包。",
    "我们把墙刷成了{K}。",
    "{K}和{K}你更喜欢哪个？",
    # numbers
    "桌子上有{N}个杯子。",
    "{N}加{N}等于几？",
    "我每天睡{N}个小时。",
    "{F}在{C}住了{N}年。",
    "我们班分成了{N}个小组。",
    "{N}比{N}大还是小？",
    "请再等{N}分钟。",
    # family
    "{F}正在看书。",
    "我和{F}一起去公园。",
    "{F}给我讲了一个故事。",
    "{F}和{F}都在家。",
    "{Fm}说他明天回来。",
    "{Ff}说她明天回来。",
    "{Fm}把他的书给了我。",
    "{Ff}把她的书给了我。",
    "{W}{F}要去{C}。",
    # jobs
    "我的{F}是一名{J}。",
    "{J}每天很早就去上班。",
    "这位{J}工作很认真。",
    "长大以后我想当{J}。",
    "{J}在{C}工作了{N}年。",
    # vehicles
    "我们坐{V}去{C}。",
    "{V}开得很快。",
    "{F}每天坐{V}上班。",
    "{V}已经到站了。",
    "我第一次坐{V}。",
    # weekdays
    "{W}我们有数学课。",
    "今天是{W}。",
    "{W}下午我们去公园。",
    "明天是{W}吗？",
    "{W}和{W}我都有空。",
    "{Ww}我们要上学。",
    "{We}我们不用上学。",
)

#: Sentences written by hand: less regular, and a few facts.
HANDWRITTEN: tuple[str, ...] = (
    "熊猫最喜欢吃竹子。",
    "猴子喜欢吃香蕉。",
    "兔子爱吃胡萝卜。",
    "猫喜欢抓老鼠。",
    "狗是人类的好朋友。",
    "大象有长长的鼻子。",
    "老虎和狮子都是猛兽。",
    "马跑得很快，羊在吃草。",
    "北京是中国的首都。",
    "上海和重庆都是直辖市。",
    "广州是广东的省会。",
    "深圳也在广东。",
    "成都是四川的省会。",
    "杭州有美丽的西湖。",
    "西安有兵马俑。",
    "南京是江苏的省会。",
    "武汉是湖北的省会。",
    "一个星期有七天。",
    "星期六和星期天不用上学。",
    "星期一早上大家都很忙。",
    "医生和护士在医院工作。",
    "厨师在饭店里做菜。",
    "警察保护大家的安全。",
    "农民在田里种地。",
    "老师在学校里上课。",
    "司机开车很小心。",
    "工程师设计了这座桥。",
    "红色和黄色混在一起是橙色。",
    "蓝色和黄色混在一起是绿色。",
    "黑色和白色混在一起是灰色。",
    "红色和白色混在一起是粉色。",
    "飞机在天上飞，轮船在海上开。",
    "坐地铁上班不会堵车。",
    "骑自行车对身体好。",
    "火车比汽车快。",
    "下雨的时候很难打到出租车。",
    "两加三等于五。",
    "四加五等于九。",
    "三加四等于七。",
    "六比八小。",
    "九比七大。",
    "苹果和西瓜都是水果。",
    "饺子和包子都是面做的。",
    "米饭和面条是主食。",
    "早饭我吃了面包和鸡蛋。",
    "葡萄很甜。",
    "爸爸和妈妈都很忙。",
    "爷爷和奶奶住在乡下。",
    "哥哥比弟弟高。",
    "姐姐和妹妹在画画。",
    "春天来了，花都开了。",
    "我们一起去看电影吧。",
    "这本书很有意思。",
    "今天天气很好。",
    "他每天早上跑步。",
    "图书馆里很安静。",
)


def generate_sentences(n: int = NUM_GENERATED, seed: int = SEED) -> list[str]:
    """Fill templates at random, add the hand-written sentences, shuffle.

    A slot names a group of `WORD_GROUPS` or `SUBGROUPS`; a slot used twice
    in a template (``{D}和{D}``) gets two different words.

    Args:
        n: How many template sentences to generate.
        seed: Seed of the random generator; the same seed gives the same list.

    Returns:
        `n + len(HANDWRITTEN)` sentences, in a shuffled order.

    Raises:
        ValueError: If `n` is negative.

    Examples:
        >>> sentences = generate_sentences(3, seed=0)
        >>> len(sentences) == 3 + len(HANDWRITTEN)
        True
        >>> generate_sentences(3, seed=0) == sentences
        True
    """
    if n < 0:
        raise ValueError(f"n must be a non-negative number of sentences, got {n}")
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        slots = [part.split("}")[0] for part in template.split("{")[1:]]
        words = {}
        for slot in slots:
            words.setdefault(slot, []).append(None)
        for slot, placeholders in words.items():
            group = WORD_GROUPS[slot] if slot in WORD_GROUPS else SUBGROUPS[slot]
            words[slot] = rng.sample(group[2], len(placeholders))
        sentence = template
        for slot in slots:
            sentence = sentence.replace("{" + slot + "}", words[slot].pop(), 1)
        sentences.append(sentence)
    sentences.extend(HANDWRITTEN)
    rng.shuffle(sentences)
    return sentences


def dictionary_lines() -> list[str]:
    """The jieba user dictionary that makes the group words come out whole.

    Every group word gets a high frequency, so jieba keeps it as one word
    (公交车, 星期三, 工程师). A number followed by a measure word is a single
    entry in jieba's own dictionary (三个, 两个); giving those entries
    frequency 0 removes them, so the number stands alone.

    Returns:
        Lines in jieba's user-dictionary format: word, frequency, tag.

    Examples:
        >>> lines = dictionary_lines()
        >>> "熊猫 100000 n" in lines, "三个 0" in lines
        (True, True)
    """
    lines = [f"{word} 100000 n" for _, _, words in WORD_GROUPS.values() for word in words]
    for number in WORD_GROUPS["N"][2]:
        for measure in ("个", "分钟", "年", "加", "比", "大", "小"):
            lines.append(f"{number}{measure} 0")
    lines.append("马和狗 0")  # an entry of jieba's dictionary that would swallow two animals
    return lines


def write_corpus(folder: Path) -> tuple[Path, Path]:
    """Write the corpus and its jieba user dictionary into `folder`.

    Args:
        folder: Where to write; created if missing.

    Returns:
        The paths of the corpus file and the dictionary file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / CORPUS_FILE
    corpus.write_text("\n".join(generate_sentences()) + "\n", encoding="utf-8")
    dictionary = folder / DICT_FILE
    dictionary.write_text("\n".join(dictionary_lines()) + "\n", encoding="utf-8")
    return corpus, dictionary


if __name__ == "__main__":
    for path in write_corpus(PACKAGE_CORPUS):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
