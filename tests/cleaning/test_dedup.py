"""Duplicate removal: exact repeats after normalization, and near repeats in Chinese and English
found by MinHash LSH while distinct texts stay."""

from __future__ import annotations

import pytest

from aicc.cleaning.dedup import ExactDedup, NearDedup, normalize

ZH = (
    "人工智能计算中心为企业和科研机构提供算力服务，用户可以提交训练任务，系统会根据队列和配额"
    "自动调度到合适的节点上运行，并按实际使用时长计费。"
)
ZH_NEAR = (
    "人工智能计算中心为企业与科研机构提供算力服务，用户可以提交训练任务，系统会根据队列和配额"
    "自动调度到合适的节点上运行，并按实际使用的时长计费。"
)
EN = (
    "The scheduler places each job on the node whose free accelerators fit it best, and a job "
    "that cannot run now waits in its queue until enough capacity is free."
)
EN_NEAR = (
    "The scheduler places every job on the node whose free accelerators fit it best, and a job "
    "that cannot run now waits in its queue until enough capacity is free!"
)
DISTINCT = [
    "数据集属于一个项目，每次推送生成一个不可变的版本，版本号从一开始递增。",
    "数据集存放在算力旁边，任务启动时以只读方式挂载到每个副本的数据目录下。",
    "清洗任务去除重复和近似重复的文本，过滤空行和过短的记录，并遮盖个人信息。",
    "Storage is content-addressed by chunk, so identical content is stored only once.",
    "A cleaning job writes a new version whose lineage points to the version it read.",
    "Preview the first rows of a CSV or Parquet file without downloading the data set.",
]


def _kept(dedup: ExactDedup | NearDedup, texts: list[str]) -> list[str]:
    return [t for t in texts if not dedup.seen(t)]


def test_exact_repeats_after_case_width_and_space_normalization_are_dropped() -> None:
    texts = [
        "Hello  World",
        "hello world",
        " HELLO WORLD ",
        "ＨＥＬＬＯ　ｗｏｒｌｄ",
        "hello, world",
    ]
    assert _kept(ExactDedup(), texts) == ["Hello  World", "hello, world"]
    assert normalize("ＡＢＣ　 def\t") == "abc def"


def test_blank_lines_are_never_duplicates() -> None:
    assert _kept(ExactDedup(), ["a", "", "  ", "", "a"]) == ["a", "", "  ", ""]
    assert _kept(NearDedup(), ["", " ", ""]) == ["", " ", ""]


@pytest.mark.parametrize(("first", "near"), [(ZH, ZH_NEAR), (EN, EN_NEAR)], ids=["zh", "en"])
def test_a_near_duplicate_is_dropped_and_distinct_texts_stay(first: str, near: str) -> None:
    texts = [first, *DISTINCT, near]
    assert _kept(NearDedup(), texts) == [first, *DISTINCT]
    assert _kept(ExactDedup(), texts) == texts  # not the same text: only near_dup catches it


def test_the_threshold_decides_how_near_is_near() -> None:
    # ZH and ZH_NEAR share about 85% of their 3-character shingles.
    assert _kept(NearDedup(threshold=0.95), [ZH, ZH_NEAR]) == [ZH, ZH_NEAR]
    assert _kept(NearDedup(threshold=0.5), [ZH, ZH_NEAR]) == [ZH]


def test_near_dup_is_deterministic_across_runs() -> None:
    texts = [f"{EN} Variant {i % 7}." for i in range(40)] + DISTINCT
    assert _kept(NearDedup(), texts) == _kept(NearDedup(), texts)


def test_a_threshold_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"threshold 1\.5"):
        NearDedup(threshold=1.5)
