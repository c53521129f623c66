"""Writes the example data set: 600 short customer-support tickets of an online shop, half in
Chinese and half in English, each with the team that handled it (`team`: billing, delivery,
technical or account). Generated from phrase templates with a seeded generator, so every run
writes the same table; a few tickets share words across teams, and 3% carry a wrong team, as
real tickets do.

    python example.py DEST  ->  DEST/support_tickets.csv (columns ticket_id, message, team)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import aicc_template

ROWS = 600
TEAMS = ("billing", "delivery", "technical", "account")
MISLABELLED = 0.03

# Per team and language: openings, the subject of the ticket, and what the customer asks.
PHRASES: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "billing": {
        "en": (
            ("I was charged twice", "My card was billed", "The invoice shows", "You took money"),
            (
                "for order {n}",
                "for my subscription",
                "an extra fee of {n} dollars",
                "after I cancelled",
            ),
            ("please refund me", "can I get the money back", "why is the price higher", ""),
        ),
        "zh": (
            ("我被重复扣款了", "信用卡多扣了钱", "发票金额不对", "退款还没到账"),
            ("订单{n}", "会员自动续费", "多收了{n}元手续费", "取消之后还在扣费"),
            ("请尽快退款", "能把钱退给我吗", "为什么价格变高了", ""),
        ),
    },
    "delivery": {
        "en": (
            ("My package has not arrived", "The parcel is late", "Tracking says delivered but"),
            ("order {n}", "the courier never came", "it was left at the wrong address", ""),
            ("where is it", "when will it ship", "please send it again", "the box was damaged"),
        ),
        "zh": (
            ("快递还没到", "包裹一直不更新物流", "显示已签收但是", "送货太慢了"),
            ("订单{n}", "快递员没有上门", "送到了错误的地址", ""),
            ("现在到哪里了", "什么时候发货", "请重新寄一次", "外包装破损了"),
        ),
    },
    "technical": {
        "en": (
            ("The app crashes", "The website shows an error", "I cannot load the page"),
            (
                "when I open the cart",
                "with code {n}",
                "after the latest update",
                "on my phone",
            ),
            ("please fix it", "it keeps freezing", "the screen is blank", "nothing happens"),
        ),
        "zh": (
            ("软件一打开就闪退", "网页报错", "页面加载不出来", "系统一直卡顿"),
            ("打开购物车的时候", "错误代码{n}", "更新之后", "在手机上"),
            ("请修复一下", "一直卡住不动", "屏幕是白的", "点了没有反应"),
        ),
    },
    "account": {
        "en": (
            ("I forgot my password", "I cannot log in", "Someone changed my email", ""),
            ("to my account", "since yesterday", "the verification code never comes", ""),
            ("please reset it", "how do I change my phone number", "delete my account", ""),
        ),
        "zh": (
            ("忘记密码了", "账号登录不上", "绑定的邮箱被改了", "收不到验证码"),
            ("我的账户", "从昨天开始", "换了手机号以后", ""),
            ("请帮我重置密码", "怎么修改绑定手机", "我要注销账号", ""),
        ),
    },
}
# Said in every team's tickets: the words alone do not give the team away.
SHARED = {
    "en": ("Hi,", "Hello,", "", "", "Urgent:", "Thanks.", "order {n}"),
    "zh": ("你好，", "您好，", "", "", "急！", "谢谢。", "订单{n}"),
}


def ticket(team: str, lang: str, rng: random.Random) -> str:
    parts = [rng.choice(SHARED[lang])]
    parts += [rng.choice(options) for options in PHRASES[team][lang]]
    parts.append(rng.choice(SHARED[lang]))
    words = [p.format(n=rng.randint(1000, 99999)) for p in parts if p]
    text = (" " if lang == "en" else "，").join(words)
    return text if lang == "zh" else text[:1].upper() + text[1:]


def generate(rng: random.Random) -> dict[str, list[object]]:
    ids, messages, teams = [], [], []
    for i in range(ROWS):
        team = TEAMS[rng.choices(range(4), weights=(0.3, 0.3, 0.25, 0.15))[0]]
        lang = "zh" if i % 2 else "en"
        ids.append(f"T{100000 + i}")
        messages.append(ticket(team, lang, rng))
        teams.append(rng.choice(TEAMS) if rng.random() < MISLABELLED else team)
    return {"ticket_id": ids, "message": messages, "team": teams}


def main() -> None:
    dest = Path(sys.argv[1])
    table = generate(random.Random(20260501))
    aicc_template.write_table(dest / "support_tickets.csv", table)
    print(f"wrote {ROWS} tickets to {dest / 'support_tickets.csv'}")


if __name__ == "__main__":
    main()
