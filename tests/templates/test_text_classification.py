"""The generic text-classification template: any table with a text column and a label column,
Chinese or English, labels as words or numbers, with the user's own column names; the model
speaks those names (schema.json, predict.py) and the report says what it learned."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from aicc.core import templates as core
from aicc.services.data import tablefacts
from aicc.templates import aicc_template
from aicc.testing import serving, templates

NAME = "text-classification"
FAST = {"time_budget_s": 5}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    tmp = tmp_path_factory.mktemp("tickets")
    data = templates.example(NAME, tmp / "example")
    return templates.train(NAME, data, tmp / "run", columns={"text": "message", "label": "team"})


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def chinese_reviews(n: int, rng: random.Random) -> list[list[object]]:
    words = {
        "好评": ["质量很好", "物流很快", "非常满意", "包装精美", "推荐购买", "性价比高"],
        "差评": ["质量太差", "发货太慢", "很不满意", "包装破损", "不推荐", "用了就坏"],
        "中评": ["一般般", "还可以吧", "凑合能用", "没有想象中好", "价格偏贵", "中规中矩"],
    }
    rows: list[list[object]] = []
    for i in range(n):
        label = list(words)[i % 3]
        text = "，".join([*rng.sample(words[label], 2), rng.choice(["东西收到了", "第二次买"])])
        rows.append([f"R{i}", text, label])
    return rows


def english_topics(n: int, rng: random.Random) -> list[list[object]]:
    words = {
        1: ["the match", "scored a goal", "the coach", "league table", "won the final"],
        2: ["the election", "parliament voted", "the minister", "new law", "the senate"],
        3: ["shares fell", "the market", "interest rates", "quarterly profit", "the bank"],
    }
    rows: list[list[object]] = []
    for i in range(n):
        label = 1 + i % 3
        text = " ".join([*rng.sample(words[label], 3), rng.choice(["today", "this week", ""])])
        rows.append([text, label, rng.random()])
    return rows


def test_the_manifest_is_a_generic_text_classifier_with_two_chosen_roles() -> None:
    manifest = templates.manifest(NAME)
    assert (manifest.industry, manifest.task, manifest.input.kind) == (
        "general",
        "text-classification",
        "table",
    )
    roles = {c.name: (c.type, c.choose) for c in manifest.input.columns}
    assert roles == {"text": ("string", True), "label": ("any", True)}
    assert manifest.input.rest == "ignore"
    assert manifest.metric.name == "f1_macro"
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.time_budget_s"):
        core.check_params(manifest, {"time_budget_s": 0})


def test_the_fit_check_picks_the_label_and_offers_the_text_column(
    trained: templates.Trained,
) -> None:
    source = trained.output.parent.parent / "example" / "support_tickets.csv"
    table = pa.table(aicc_template.read_table(source))
    found = tablefacts.facts(table)
    listed = [{"name": n, "type": "VARCHAR", **found[n]} for n in table.column_names]
    described = {"support_tickets.csv": {"columns": listed, "rows": 600, "sampled": 600}}
    fit = core.fit(templates.manifest(NAME), ["support_tickets.csv"], described)
    assert fit.ok and fit.columns is not None
    assert fit.columns["label"] == "team"  # the one column of few values
    assert fit.columns.get("text") == "message" or "message" in fit.choose["text"]
    mapped = {"text": "message", "label": "team"}
    fit = core.fit(templates.manifest(NAME), ["support_tickets.csv"], described, mapped)
    assert fit.ok and fit.columns == mapped and not fit.choose  # what the fixture trained


def test_the_example_trains_above_the_expected_f1_and_the_baseline(
    trained: templates.Trained,
) -> None:
    manifest = templates.manifest(NAME)
    metrics = trained.metrics
    assert core.reached(manifest.metric, metrics["f1_macro"]), metrics
    assert metrics["f1_macro"] > metrics["baseline_f1_macro"] + 0.5
    assert metrics["accuracy"] > metrics["baseline_accuracy"]
    assert trained.seconds < 60
    facts = trained.report["facts"]
    assert (facts["rows"], facts["target"], facts["text"]) == (600, "team", "message")
    assert (facts["metric"], facts["task"]) == ("f1_macro", "text-classification")
    assert facts["score"] == round(metrics["f1_macro"], 4)
    assert facts["baseline"] == round(metrics["baseline_f1_macro"], 4)
    assert set(facts["labels"]) == {"billing", "delivery", "technical", "account"}
    assert facts["baseline_name"]["zh-CN"]
    charts = trained.report["charts"]
    confusion = charts["confusion"]
    assert confusion["labels"] == ["account", "billing", "delivery", "technical"]
    assert sum(map(sum, confusion["matrix"])) == facts["rows_test"]
    words = {i["feature"] for i in charts["importance"] if i["class"] == "delivery"}
    assert words & {"快递还没到", "the parcel is late", "parcel", "courier", "快递"}, words
    assert "macro F1" in trained.report["summary"]["en"]
    assert "宏平均 F1" in trained.report["summary"]["zh-CN"]
    assert trained.curve and all("cv_f1_macro" in p for p in trained.curve)

    schema = json.loads((trained.model / "schema.json").read_text("utf-8"))
    assert schema["task"] == "text-classification"
    assert schema["target"] == "team"
    assert [(i["name"], i["type"]) for i in schema["inputs"]] == [("message", "text")]
    assert isinstance(schema["inputs"][0]["example"], str)
    assert schema["classes"] == ["account", "billing", "delivery", "technical"]
    outputs = [o["name"] for o in schema["outputs"]]
    assert outputs[0] == "team_predicted"
    assert "probability_delivery" in outputs


def test_predict_labels_new_texts_in_the_users_own_column(
    trained: templates.Trained, tmp_path: Path
) -> None:
    given = write_csv(
        tmp_path / "new.csv",
        ["ticket", "message"],
        [
            ["a", "包裹一直不更新物流，现在到哪里了"],
            ["b", "I forgot my password please reset it"],
            ["c", "The website shows an error with code 500"],
            ["d", ""],
        ],
    )
    out = templates.predict(NAME, trained.model, given, tmp_path / "labels.jsonl")
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["ticket"] for r in rows] == ["a", "b", "c", "d"]  # other columns carried
    assert [r["team_predicted"] for r in rows] == ["delivery", "account", "technical", None]
    for row in rows[:3]:
        chances = [row[f"probability_{c}"] for c in ("account", "billing", "delivery", "technical")]
        assert abs(sum(chances) - 1) < 1e-3
        assert row[f"probability_{row['team_predicted']}"] == max(chances)


def test_a_chinese_table_with_its_own_column_names(tmp_path: Path) -> None:
    rows = chinese_reviews(90, random.Random(1))
    data = tmp_path / "data"
    write_csv(data / "评论.csv", ["编号", "评论内容", "评价"], rows)
    run = templates.train(
        NAME, data, tmp_path / "run", FAST, columns={"text": "评论内容", "label": "评价"}
    )
    assert run.metrics["f1_macro"] >= 0.9, run.metrics
    assert run.report["facts"]["target"] == "评价"
    schema = json.loads((run.model / "schema.json").read_text("utf-8"))
    assert schema["inputs"][0]["name"] == "评论内容"
    assert schema["outputs"][0]["name"] == "评价_predicted"
    given = write_csv(
        tmp_path / "new.csv", ["评论内容"], [["质量太差，很不满意"], ["非常满意，推荐购买"]]
    )
    out = templates.predict(NAME, run.model, given, tmp_path / "out.csv")
    assert [r["评价_predicted"] for r in csv.DictReader(out.open(encoding="utf-8"))] == [
        "差评",
        "好评",
    ]


def test_an_english_table_with_numeric_labels_and_a_label_seen_once(tmp_path: Path) -> None:
    rows = english_topics(90, random.Random(2))
    rows += [["a lone story about gardening", 9, 0.5], ["", 1, 0.1], ["no label here", None, 0.2]]
    data = tmp_path / "data"
    write_csv(data / "news.csv", ["headline", "topic", "noise"], rows)
    run = templates.train(
        NAME, data, tmp_path / "run", FAST, columns={"text": "headline", "label": "topic"}
    )
    assert run.metrics["f1_macro"] >= 0.9, run.metrics
    facts = run.report["facts"]
    assert facts["rows"] == 90
    assert facts["left_out"][0]["label"] == 9 and facts["left_out"][0]["rows"] == 1
    assert (facts["empty_texts"], facts["unlabelled_rows"]) == (1, 1)
    assert "labels seen only once" in run.report["summary"]["en"]
    schema = json.loads((run.model / "schema.json").read_text("utf-8"))
    assert schema["classes"] == [1, 2, 3]  # numbers stay numbers, in their order
    assert [o["name"] for o in schema["outputs"]] == [
        "topic_predicted",
        "probability_1",
        "probability_2",
        "probability_3",
    ]
    given = tmp_path / "new.jsonl"
    given.write_text(
        json.dumps({"headline": "parliament voted on the new law"})
        + "\n"
        + json.dumps({"headline": "shares fell as interest rates rose"})
        + "\n",
        "utf-8",
    )
    out = templates.predict(NAME, run.model, given, tmp_path / "out.jsonl")
    predicted = [json.loads(line)["topic_predicted"] for line in out.read_text().splitlines()]
    assert predicted == [2, 3]


def test_a_deployment_answers_rows_in_the_users_column_names(
    trained: templates.Trained, tmp_path: Path
) -> None:
    version = serving.model_version(NAME, trained.model, tmp_path / "version")
    rows = [
        {"message": "信用卡多扣了钱，请尽快退款"},
        {"message": "My parcel is late, where is it"},
    ]
    with serving.serve(version, tmp_path / "replica", name="tickets") as replica:
        answer = httpx.post(replica.url + "/predict", json={"rows": rows}, timeout=120)
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert [p["team_predicted"] for p in predictions] == ["billing", "delivery"]
        assert [p["message"] for p in predictions] == [r["message"] for r in rows]
        wrong = httpx.post(replica.url + "/predict", json={"rows": [{"text": "hi", "x": 1}]})
        assert wrong.status_code == 400
        assert "no column message" in wrong.json()["error"]["message"]
