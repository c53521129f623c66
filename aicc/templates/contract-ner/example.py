"""Writes a generated example of contract sentences with their entities: `python example.py
DEST` writes DEST/clauses.jsonl, one object per sentence: `text` and `entities`, a JSON string
of [[start, end, type], ...] (end exclusive; PARTY, DATE, AMOUNT, LOCATION). Built from clause
patterns and generated names, seeded: no download. Clauses also hold numbers that are no entity
(30日内, 0.5%, account numbers), as real contracts do, and a few entities were left unlabelled."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

CITIES = [
    "北京",
    "上海",
    "深圳",
    "杭州",
    "广州",
    "成都",
    "苏州",
    "武汉",
    "南京",
    "西安",
    "天津",
    "重庆",
    "合肥",
    "青岛",
]
NAME_CHARS = (
    "华信中联鼎盛恒达瑞丰博远天成新创金桥宏图启明安泰嘉禾永兴汇通东方振宇海辰益康智达佳和鸿运"
)
TRADES = [
    "科技",
    "建设工程",
    "物流",
    "医药",
    "贸易",
    "信息技术",
    "机械制造",
    "文化传媒",
    "新能源",
    "食品",
    "电子",
    "环保科技",
]
FORMS = ["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
DISTRICTS = [
    "朝阳区",
    "浦东新区",
    "南山区",
    "西湖区",
    "天河区",
    "高新区",
    "工业园区",
    "江汉区",
    "鼓楼区",
    "雁塔区",
    "滨海新区",
    "渝北区",
]
ROADS = ["中山路", "人民大道", "科技园路", "建设路", "长江路", "解放大街", "创新大道", "金融街"]
DIGITS = "零壹贰叁肆伍陆柒捌玖"
CN_NUM = "〇一二三四五六七八九"


def party(rng: random.Random) -> str:
    core = "".join(rng.sample(NAME_CHARS, k=rng.choice([2, 2, 3])))
    city = rng.choice(CITIES) if rng.random() < 0.8 else ""
    return city + core + rng.choice(TRADES) + rng.choice(FORMS)


def date(rng: random.Random) -> str:
    y, m, d = rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28)
    form = rng.random()
    if form < 0.7:
        return f"{y}年{m}月{d}日"
    if form < 0.9:
        return f"{y}-{m:02d}-{d:02d}"
    return "".join(CN_NUM[int(c)] for c in str(y)) + f"年{m}月{d}日"


def amount(rng: random.Random) -> str:
    value = rng.randint(1, 900) * rng.choice([100, 1000, 10000])
    form = rng.random()
    if form < 0.4:
        return f"人民币{value:,}.00元"
    if form < 0.6:
        return f"¥{value:,}元"
    if form < 0.8 and value % 10000 == 0:
        return f"{value // 10000}万元"
    if form < 0.9:
        return "人民币" + "".join(DIGITS[int(c)] for c in str(value)) + "元整"
    return f"{value:,}元"


def location(rng: random.Random) -> str:
    return (
        rng.choice(CITIES)
        + "市"
        + rng.choice(DISTRICTS)
        + rng.choice(ROADS)
        + f"{rng.randint(1, 999)}号"
    )


# Each clause: text with {PARTY}, {DATE}, {AMOUNT}, {LOCATION} where an entity goes.
CLAUSES = [
    "本合同由{PARTY}（以下简称“甲方”）与{PARTY}（以下简称“乙方”）于{DATE}在{LOCATION}签订。",
    "甲方：{PARTY}，住所地：{LOCATION}。",
    "乙方：{PARTY}，法定代表人：张{n}明。",
    "乙方应于{DATE}前向甲方支付货款{AMOUNT}。",
    "合同总价款为{AMOUNT}，甲方应在合同签订后{n}日内支付首付款{AMOUNT}。",
    "本协议自{DATE}起生效，有效期至{DATE}止。",
    "{PARTY}同意向{PARTY}采购设备一批，总金额{AMOUNT}（含税）。",
    "双方约定交货地点为{LOCATION}，交货时间不晚于{DATE}。",
    "如乙方逾期交付，每逾期一日应按合同金额的0.{n}%支付违约金。",
    "本合同一式{n}份，甲乙双方各执一份，具有同等法律效力。",
    "乙方开户银行为中国工商银行分行，账号6222 0210 {n}12 3456。",
    "甲方已于{DATE}收到乙方支付的定金{AMOUNT}。",
    "第{n}条 付款方式：甲方于{DATE}前支付{AMOUNT}至乙方指定账户。",
    "因本合同引起的争议，由{LOCATION}所在地人民法院管辖。",
    "{PARTY}委托{PARTY}提供技术服务，服务费为每月{AMOUNT}。",
    "租赁物位于{LOCATION}，租期自{DATE}至{DATE}，月租金{AMOUNT}。",
    "双方应在{n}个工作日内完成验收。",
]
MISSED = 0.03  # entities the annotators missed, as a real labelled set has some
MAKERS = {"PARTY": party, "DATE": date, "AMOUNT": amount, "LOCATION": location}


def clause(rng: random.Random) -> tuple[str, list[list[object]]]:
    """One sentence (sometimes two clauses) and its entity spans."""
    text, spans = "", []
    for pattern in rng.sample(CLAUSES, k=rng.choice([1, 1, 1, 1, 2])):
        pattern = pattern.replace("{n}", str(rng.randint(1, 30)))
        while "{" in pattern:
            head, rest = pattern.split("{", 1)
            kind, pattern = rest.split("}", 1)
            text += head
            value = MAKERS[kind](rng)
            if rng.random() > MISSED:
                spans.append([len(text), len(text) + len(value), kind])
            text += value
        text += pattern
    return text, spans


def main(dest: Path, rows: int = 500, seed: int = 19) -> None:
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "clauses.jsonl", "w", encoding="utf-8") as out:
        for _ in range(rows):
            text, spans = clause(rng)
            row = {"text": text, "entities": json.dumps(spans, ensure_ascii=False)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
