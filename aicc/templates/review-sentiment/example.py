"""Writes a generated example of e-commerce reviews: `python example.py DEST` writes
DEST/reviews.csv (text, label: positive, neutral or negative). Built from phrases, seeded: no
download. Mixed reviews (good delivery, poor quality) and a few mislabelled ones make it real."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import aicc_template

PRODUCTS = [
    "手机",
    "耳机",
    "连衣裙",
    "运动鞋",
    "电饭煲",
    "零食",
    "洗发水",
    "充电宝",
    "台灯",
    "背包",
    "口红",
    "茶叶",
    "键盘",
    "保温杯",
]
ASPECTS = {
    "positive": [
        "质量很好",
        "做工精致",
        "物超所值",
        "非常好用",
        "颜色很正",
        "味道不错",
        "包装很用心",
        "物流超快，第二天就到了",
        "客服态度很好",
        "跟描述一模一样",
        "性价比很高",
        "很满意",
        "穿着很舒服",
        "音质清晰",
        "续航给力",
    ],
    "neutral": [
        "还行吧",
        "一般般",
        "中规中矩",
        "和预期差不多",
        "凑合能用",
        "没什么特别的",
        "价格还可以",
        "物流速度一般",
        "用了几天再看看",
        "包装普通",
    ],
    "negative": [
        "质量太差",
        "用了两天就坏了",
        "和图片严重不符",
        "做工粗糙",
        "味道很难闻",
        "客服不理人",
        "物流太慢了，等了一周",
        "尺码不对",
        "有明显色差",
        "完全不值这个价",
        "非常失望",
        "退货还要自己出运费",
        "电池不耐用",
        "包装破损",
    ],
}
OPENINGS = ["", "", "买的{p}，", "这个{p}", "第二次买{p}了，", "给家人买的{p}，", "收到{p}了，"]
CLOSINGS = {
    "positive": ["", "，推荐购买！", "，还会回购。", "，五星好评。", "！"],
    "neutral": ["", "。", "，就这样吧。", "，不好不坏。"],
    "negative": ["", "，不推荐。", "，差评！", "，再也不买了。", "。"],
}
# A review that praises one thing and faults another ends up with the later one's sentiment.
TURNS = ["，但是", "，不过", "，可惜", "，就是"]


def review(rng: random.Random, label: str) -> str:
    text = rng.choice(OPENINGS).format(p=rng.choice(PRODUCTS))
    parts = rng.sample(ASPECTS[label], k=rng.choice([1, 1, 2]))
    text += "，".join(parts)
    if rng.random() < 0.3:
        other = rng.choice([s for s in ASPECTS if s != label])
        text = (
            text.rstrip("，")
            if label == "neutral"
            else rng.choice(ASPECTS[other]) + rng.choice(TURNS) + text.split("，")[-1]
        )
    return text + rng.choice(CLOSINGS[label])


def main(dest: Path, rows: int = 1500, seed: int = 19) -> None:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(rows):
        label = rng.choices(list(ASPECTS), weights=[5, 2, 3])[0]
        texts.append(review(rng, label))
        labels.append(rng.choice(list(ASPECTS)) if rng.random() < 0.04 else label)
    aicc_template.write_table(dest / "reviews.csv", {"text": texts, "label": labels})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
