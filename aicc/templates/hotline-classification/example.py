"""Writes a generated example of 12345 hotline tickets: `python example.py DEST` writes
DEST/tickets.csv (text, label). Built from phrases, seeded: no download. Some tickets mention
another department's matter and a few were routed by hand to a neighbour, as real ones are."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import aicc_template

DISTRICTS = ["朝阳区", "海淀区", "西城区", "东城区", "丰台区", "通州区", "昌平区", "大兴区"]
PLACES = [
    "幸福路",
    "建设路",
    "人民路",
    "光明小区",
    "锦绣家园",
    "阳光花园",
    "东湖社区",
    "和平里",
    "滨河路",
    "中山街",
    "新华小区",
    "长安街",
]
OPENINGS = [
    "市民来电反映：",
    "来电人称，",
    "市民反映，",
    "来电人咨询：",
    "市民投诉：",
    "来电人表示，",
    "",
    "网友留言：",
    "市民来电称",
]
CLOSINGS = [
    "希望相关部门尽快处理。",
    "请求核实处理。",
    "要求给予答复。",
    "已多次反映未解决。",
    "希望尽快解决。",
    "",
    "请相关部门协调。",
    "望予以重视。",
]

ISSUES: dict[str, list[str]] = {
    "交通": [
        "{p}路口红绿灯损坏，早晚高峰车辆拥堵严重",
        "{p}附近公交站撤销，出行很不方便",
        "{p}路段有车辆长期占道违停",
        "{p}的道路出现大坑，电动车经过容易摔倒",
        "建议在{p}增设人行横道和减速带",
        "{p}出租车拒载、绕路",
        "{p}地铁站出口施工围挡影响通行",
        "{p}公交车班次太少，等车超过半小时",
    ],
    "环境": [
        "{p}附近工厂夜间排放刺鼻气味",
        "{p}河道发黑发臭，有垃圾漂浮",
        "{p}垃圾桶满了没人清运，气味很大",
        "{p}工地夜间施工噪音扰民",
        "{p}餐馆油烟直排，影响居民开窗",
        "{p}有人焚烧垃圾，烟很大",
        "{p}绿化带被破坏，树木被砍伐",
        "{p}广场舞音响声音太大",
    ],
    "住房": [
        "{p}楼道墙皮脱落，物业不管",
        "{p}电梯经常故障困人，物业维修不及时",
        "{p}屋顶漏水，多次联系物业无果",
        "咨询{p}公租房申请条件和办理流程",
        "{p}开发商延期交房，业主要求说明",
        "{p}物业费上涨未经业主同意",
        "{p}小区停车位被物业高价出租",
        "{p}老旧小区改造进度缓慢",
    ],
    "教育": [
        "{p}附近小学入学划片不合理",
        "咨询孩子在{p}幼儿园的入园报名时间",
        "{p}培训机构收费后跑路，无法退费",
        "{p}学校放学时间过早家长无法接送",
        "{p}中学乱收资料费",
        "咨询外地户籍子女在{p}就近入学的政策",
        "{p}学校食堂饭菜质量差",
        "{p}校外托管班没有资质",
    ],
    "医疗": [
        "{p}社区医院挂号排队时间过长",
        "{p}医院医生态度恶劣",
        "咨询{p}医保报销比例和异地就医备案",
        "{p}药店药品价格明显高于别处",
        "{p}诊所无证行医",
        "{p}医院急诊等候超过三小时",
        "咨询在{p}社区卫生服务中心接种疫苗的时间",
        "{p}医院收费项目不明确",
    ],
    "治安": [
        "{p}夜间经常有人聚众喝酒闹事",
        "{p}小区发生多起电动车被盗",
        "{p}附近有人发放诈骗传单",
        "{p}有人深夜飙车，存在安全隐患",
        "{p}楼下有可疑人员长期徘徊",
        "{p}邻居之间发生纠纷并动手",
        "{p}地下车库监控损坏，车辆被划",
        "{p}出现电信诈骗，被骗两千元",
    ],
    "市场监管": [
        "{p}超市销售过期食品",
        "{p}商家短斤缺两",
        "{p}网购商品质量问题商家拒不退货",
        "{p}餐馆卫生条件差，吃后腹泻",
        "{p}健身房办卡后关门，无法退款",
        "{p}商铺明码标价与实收不符",
        "{p}美容店虚假宣传",
        "{p}菜市场电子秤不准",
    ],
    "社保": [
        "咨询{p}社保断缴后如何补缴",
        "{p}公司未给员工缴纳社保",
        "咨询在{p}办理退休手续需要的材料",
        "{p}公司拖欠工资三个月",
        "咨询{p}失业金申领条件",
        "{p}养老金发放延迟",
        "咨询灵活就业人员在{p}参保的流程",
        "{p}单位不签劳动合同",
    ],
}
# Matters that sit between two departments: the ticket mentions both.
MIXES = [
    "，另外{p}附近道路也很堵",
    "，并且{p}垃圾没人清理",
    "，物业也不作为",
    "，孩子上学也受影响",
    "，老人就医也不方便",
    "，还担心有人偷东西",
    "，商家也不给退款",
    "，单位也没交社保",
]


def ticket(rng: random.Random, label: str) -> str:
    place = rng.choice(DISTRICTS) + rng.choice(PLACES)
    issue = rng.choice(ISSUES[label]).format(p=place)
    if rng.random() < 0.25:
        issue += rng.choice(MIXES).format(p=place)
    return rng.choice(OPENINGS) + issue + "，" + rng.choice(CLOSINGS)


def main(dest: Path, rows: int = 1600, seed: int = 19) -> None:
    rng = random.Random(seed)
    labels = list(ISSUES)
    texts, truth = [], []
    for _ in range(rows):
        label = rng.choice(labels)
        texts.append(ticket(rng, label).rstrip("，"))
        # A few tickets were routed to a neighbouring department by the operator.
        truth.append(rng.choice(labels) if rng.random() < 0.04 else label)
    aicc_template.write_table(dest / "tickets.csv", {"text": texts, "label": truth})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
