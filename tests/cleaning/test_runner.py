"""The runner end to end, as a cleaning job runs it: every format in, cleaned files at the same
paths out, other files copied, and a report whose counts match what happened."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aicc.cleaning.runner import REPORT, main

ID = "11010519491231002X"
CARD = "6222021001123456789"
ZH = (
    "人工智能计算中心为企业和科研机构提供算力服务，用户可以提交训练任务，"
    "系统会根据队列和配额自动调度到合适的节点上运行。"
)
ZH_NEAR = (
    "人工智能计算中心为企业与科研机构提供算力服务，用户可以提交训练任务，"
    "系统会根据队列和配额自动调度到合适的节点上运行！"
)


def _tree(root: Path) -> Path:
    """One file of each format (dirty on purpose), and a file that is not text."""
    (root / "zh").mkdir(parents=True)
    (root / "notes.txt").write_text(
        "Call me at 138 1234 5678 about the data set.\n"
        "call ME at 138 1234 5678  about the data set.\n"  # an exact duplicate once normalized
        "\n"
        "   \n"
        "ok\n"  # too short
        "Le chat est sur la table et il dort.\n"  # French
        f"身份证号{ID}，邮箱 li@example.com。\n",
        encoding="utf-8",
    )
    lines = [
        {"id": 1, "text": ZH, "meta": {"contact": "13912345678"}},
        {"id": 2, "text": ZH_NEAR, "meta": {"contact": "none"}},  # near duplicate of 1
        {"id": 3, "text": f"卡号 {CARD} 已绑定到这个项目的账户上。", "tags": ["a"]},
        {"id": 4, "text": None},
    ]
    (root / "zh" / "corpus.jsonl").write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8"
    )
    with (root / "table.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text", "owner"])
        writer.writerow(["1", "The scheduler is fair to every tenant, with quotas.", "a@b.com"])
        writer.writerow(["2", "The scheduler is fair to every tenant, with quotas.", "x"])
        writer.writerow(["3", "Multi-line\ntext, with a comma, stays one record.", "y"])
    pq.write_table(
        pa.table(
            {
                "n": pa.array([1, 2, 3], pa.int64()),
                "text": pa.array(["The data service keeps data next to compute.", "", None]),
                "phone": pa.array(["+86 13812345678", None, "x"]),
            }
        ),
        root / "rows.parquet",
    )
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n not text")
    return root


def _run(src: Path, dst: Path, *args: str) -> dict[str, Any]:
    assert main(["--input", str(src), "--output", str(dst), *args]) == 0
    return json.loads((dst / REPORT).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_every_format_is_cleaned_at_the_same_path_and_other_files_are_copied(
    tmp_path: Path,
) -> None:
    src, dst = _tree(tmp_path / "in"), tmp_path / "out"
    report = _run(src, dst, "--min-chars", "5", "--lang", "zh,en")

    assert (dst / "notes.txt").read_text(encoding="utf-8") == (
        "Call me at [PHONE] about the data set.\n身份证号[ID]，邮箱 [EMAIL]。\n"
    )
    assert (dst / "image.png").read_bytes() == (src / "image.png").read_bytes()
    with (dst / "table.csv").open(encoding="utf-8", newline="") as rows:
        assert list(csv.reader(rows)) == [
            ["id", "text", "owner"],
            ["1", "The scheduler is fair to every tenant, with quotas.", "[EMAIL]"],
            ["3", "Multi-line\ntext, with a comma, stays one record.", "y"],
        ]
    table = pq.read_table(dst / "rows.parquet")
    assert table.schema == pq.read_table(src / "rows.parquet").schema
    assert table.to_pylist() == [
        {"n": 1, "text": "The data service keeps data next to compute.", "phone": "[PHONE]"}
    ]
    assert [f["path"] for f in report["files"]] == [
        "notes.txt",
        "rows.parquet",
        "table.csv",
        "zh/corpus.jsonl",
    ]


def test_jsonl_cleaning_masks_nested_fields(
    tmp_path: Path,
) -> None:
    src, dst = _tree(tmp_path / "in"), tmp_path / "out"
    report = _run(src, dst, "--steps", "near_dup,filter,pii")
    lines = (dst / "zh" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [
        {"id": 1, "text": ZH, "meta": {"contact": "[PHONE]"}},
        {"id": 3, "text": "卡号 [CARD] 已绑定到这个项目的账户上。", "tags": ["a"]},
    ]
    assert report["removed"] == {"near_dup": 3, "filter": 5}  # across all four files
    assert report["filtered"] == {"empty": 5}


def test_a_run_without_pii_writes_kept_lines_byte_for_byte(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    text = '{"text": "unicode \\u4e2d", "x": 1.50}\n{"text":"dup"}\n{"text":"dup"}\n'
    (src / "a.jsonl").write_text(text, encoding="utf-8")
    _run(src, dst, "--steps", "dedup")
    assert (dst / "a.jsonl").read_text(encoding="utf-8") == text.rsplit('{"text":"dup"}\n', 1)[0]


def test_the_report_counts_records_removals_per_step_and_masks_per_kind(
    tmp_path: Path,
) -> None:
    src, dst = _tree(tmp_path / "in"), tmp_path / "out"
    (src / "table.csv").unlink()
    (src / "rows.parquet").unlink()
    report = _run(src, dst, "--min-chars", "5", "--lang", "zh,en")
    assert report["steps"] == ["dedup", "near_dup", "filter", "pii"]
    assert report["files"] == [
        {"path": "notes.txt", "records_in": 7, "records_out": 2},
        {"path": "zh/corpus.jsonl", "records_in": 4, "records_out": 2},
    ]
    assert report["copied"] == 1
    assert (report["records_in"], report["records_out"]) == (11, 4)
    assert report["removed"] == {"dedup": 1, "near_dup": 1, "filter": 5}
    assert report["filtered"] == {"empty": 3, "short": 1, "lang": 1}
    assert report["masked"] == {"email": 1, "id": 1, "card": 1, "phone": 2}


def test_the_same_input_gives_the_same_output(tmp_path: Path) -> None:
    src = _tree(tmp_path / "in")
    (src / "rows.parquet").unlink()
    _run(src, tmp_path / "a", "--steps", "dedup,near_dup")
    _run(src, tmp_path / "b", "--steps", "dedup,near_dup")
    for name in ("notes.txt", "zh/corpus.jsonl", "table.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_python_m_runs_it_and_prints_progress(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "a.txt").write_text("one line\none line\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "aicc.cleaning", "--input", str(src), "--output", str(dst)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[1/1] a.txt: 2 records in, 1 out" in done.stdout
    assert (dst / "a.txt").read_text(encoding="utf-8") == "one line\n"


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"a.jsonl": '{"text": "ok"}\n{"text": broken}\n'}, [], "a.jsonl line 2: not JSON"),
        ({"a.jsonl": '{"body": "ok"}\n'}, [], "a.jsonl line 1: no field 'text'"),
        ({"a.jsonl": '["text"]\n'}, [], "a JSON object per line, not list"),
        ({"a.csv": "id,body\n1,x\n"}, [], "a.csv: no column 'text' (the header has id, body)"),
        ({"a.csv": "id,body\n1,x\n"}, ["--text-column", "txt"], "a.csv: no column 'txt'"),
        ({"a.parquet": "PAR1 not really"}, [], "a.parquet: not a readable Parquet file"),
        ({"a.txt": b"\xd6\xd0\xce\xc4\n"}, [], "a.txt: not UTF-8 text"),
    ],
)
def test_bad_input_exits_1_and_names_the_file_and_the_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str | bytes],
    args: list[str],
    message: str,
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name, body in files.items():
        if isinstance(body, bytes):
            (src / name).write_bytes(body)
        else:
            (src / name).write_text(body, encoding="utf-8")
    code = main(["--input", str(src), "--output", str(tmp_path / "out"), *args])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / REPORT).exists()


def test_a_parquet_text_column_that_is_not_text_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(pa.table({"text": pa.array([1, 2])}), src / "n.parquet")
    assert main(["--input", str(src), "--output", str(tmp_path / "out")]) == 1
    assert "n.parquet: column 'text' holds int64, not text" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "dedup,spellcheck"], "name one or more of dedup, near_dup, filter, pii"),
        (["--threshold", "0"], "threshold 0.0: a similarity above 0 and at most 1"),
        (["--lang", "zh,xx"], "unknown language xx"),
        (["--min-chars", "-3"], "min chars -3"),
    ],
)
def test_bad_options_exit_2_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    with pytest.raises(SystemExit) as stop:
        main(["--input", str(src), "--output", str(tmp_path / "out"), *args])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_output_inside_the_input_or_a_missing_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    assert main(["--input", str(src), "--output", str(src / "out")]) == 1
    assert "one may not hold the other" in capsys.readouterr().err
    assert main(["--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 1
    assert "not a directory" in capsys.readouterr().err
