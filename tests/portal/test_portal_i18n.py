"""The message catalogs: every key has an English and a Chinese (zh-CN) message with the same
placeholders, every key the pages use exists, and codes that grow with the server (job states,
reasons, node states, roles) all have their messages."""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import pytest

from aicc.core import jobspec
from aicc.core.jobspec import JobKind
from aicc.core.states import JobState, Reason
from aicc.core.tenancy import Role
from aicc.core.topology import NodeState
from aicc.executors import jobfiles
from aicc.portal import i18n, submitting

PORTAL = Path(i18n.__file__).parent
TEMPLATES = sorted((PORTAL / "templates").rglob("*.html"))
SOURCES = sorted(PORTAL.glob("*.py"))
# t("key"...), t('key'...), and message keys passed around as strings ("sign_in.error.password",
# "form.error.exists")
LITERAL = re.compile(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-zA-Z0-9_-]+)+)["']""")
KEY_STRING = re.compile(r"""["']((?:(?:sign_in|job)\.(?:error|log)|form\.error)\.[a-z_]+)["']""")
# a table's columns(t, "prefix", "name", "other num", "full.key opt"): a key a column
COLUMNS = re.compile(r"""\bcolumns\(t, "([a-z0-9_.]+)", ([^)]*)\)""")
# Messages that are the same in both languages on purpose (units, product names).
SAME_IN_BOTH = {
    "nodes.cpu",
    "nodes.allocated",
    "quotas.unit.pflops",
    "quotas.unit.gib",
    "quotas.key.pflops",
    "quotas.key.cpu_milli",
    "endpoint.snippet.curl",  # the tool's name
    "connect.language.python",  # the language's name
    "connect.mlflow.standard",  # "MLflow REST API 2.0", a product's API
    "endpoint.snippet.python",
}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*TEMPLATES, *SOURCES]:
        text = path.read_text("utf-8")
        keys |= set(LITERAL.findall(text)) | set(KEY_STRING.findall(text))
        for prefix, specs in COLUMNS.findall(text):
            named = [spec.split()[0] for spec in re.findall(r'"([^"]+)"', specs)]
            keys |= {name if "." in name else f"{prefix}.{name}" for name in named}
    return keys


def test_every_english_message_has_a_chinese_translation() -> None:
    english, chinese = i18n.catalog("en"), i18n.catalog("zh-CN")
    missing = sorted(set(english) - set(chinese))
    assert not missing, f"no zh-CN translation for: {missing}"
    extra = sorted(set(chinese) - set(english))
    assert not extra, f"zh-CN has keys English lacks: {extra}"
    for key, text in english.items():
        assert text.strip() and chinese[key].strip(), key
        assert placeholders(text) == placeholders(chinese[key]), key
    untranslated = [k for k in english if english[k] == chinese[k] and k not in SAME_IN_BOTH]
    assert not untranslated, f"zh-CN repeats the English message for: {untranslated}"


def test_every_key_the_pages_use_exists() -> None:
    keys = used_keys()
    assert len(keys) > 80  # the scan finds the pages' keys
    unknown = sorted(k for k in keys if k not in i18n.catalog("en"))
    assert not unknown, f"keys used but not in en.json: {unknown}"


@pytest.mark.parametrize(
    ("prefix", "codes"),
    [
        ("state", [s.value for s in JobState]),
        ("job.reason", [r.value for r in Reason]),
        ("node_state", [s.value for s in NodeState]),
        ("role", [r.value for r in Role]),
        ("kind", [k.value for k in JobKind]),
        ("replica_state", ["scheduled", "running", "exited", "lost"]),
        ("nav", ["dashboard", "jobs", "nodes", "quotas", "tokens", "secrets"]),
        ("nav", ["operations", "center", "center_nodes", "tenants", "audit"]),
        ("heatmap.action", ["cordon", "uncordon", "drain", "evict", "burn_in"]),
        ("heatmap.action_label", ["cordon", "uncordon", "drain", "evict", "burn_in"]),
        ("heatmap.done", ["cordon", "uncordon", "drain", "evict", "burn_in"]),
        ("heatmap.kind", ["free", "partial", "whole", "unhealthy"]),
        ("tokens.status", ["active", "expired", "revoked"]),
        ("tenants.created", ["org", "project", "user"]),
        ("quotas.kind", ["org", "project"]),
        ("quotas.col", ["guaranteed", "max", "used", "borrowed"]),
        ("center.stat", ["allocated", "busy", "allocated.note", "busy.note"]),
        ("center.rate", ["allocated", "busy", "allocated.simulated", "busy.simulated"]),
        ("dashboard.stat", ["running", "waiting", "finished"]),
        ("why", ["quota", "budget", "resources", "gang", "unschedulable", "queue", "starting"]),
        ("bills.item", ["accelerator", "cpu", "memory", "storage", "adjustment"]),
        ("bills.unit", ["accelerator_hour", "pflops_hour", "cpu_core_hour", "memory_gib_hour"]),
        ("bills.unit", ["storage_gib_day"]),
    ],
)
def test_codes_shown_on_pages_have_messages(prefix: str, codes: list[str]) -> None:
    for language in i18n.LANGUAGES:
        catalog = i18n.catalog(language)
        missing = [c for c in codes if f"{prefix}.{c}" not in catalog]
        assert not missing, f"{language}: no message for {prefix}.{missing}"


def test_error_pages_have_messages() -> None:
    for kind in ("400", "403", "404", "409", "422", "429", "other"):
        for part in ("title", "body"):
            assert f"error.{kind}.{part}" in i18n.catalog("zh-CN")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("en-GB,en;q=0.9,zh;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,zh-TW;q=0.5", "zh-CN"),
        ("de, en;q=0.1, zh;q=0.5", "zh-CN"),
        ("zh;q=0, en", "en"),
        ("garbage;;q=x", "en"),
    ],
)
def test_accept_language_negotiation(header: str | None, language: str) -> None:
    assert i18n.negotiate(header) == language


def test_translator_fills_placeholders_and_falls_back() -> None:
    t = i18n.Translator("zh-CN")
    assert t("dashboard.greeting", name="alice") == "欢迎，alice"
    assert t("no.such.key") == "no.such.key"
    assert t.maybe("state", "running") == "运行中"
    assert t.maybe("state", "a-future-state") == "a-future-state"
    assert i18n.Translator("xx").language == "en"


# --- the services' messages ---

# Where the refusals a portal page can show are raised: the services behind submitting, users
# and tenants, tokens, secrets, quotas, nodes, the audit log, vouchers, budgets and bills, data
# sets, models, templates and their reviews, deployments and notebooks; single sign-on; the
# portal.
SHOWN_SERVICES = (
    "jobs/jobs",
    "jobs/census",  # the heat map's holders (nodes' page)
    "tenancy/tenancy",
    "tenancy/tokens",
    "tenancy/secrets",
    "jobs/quotas",
    "nodes/nodes",
    "tenancy/audit",
    "jobs/workdirs",
    "jobs/execs",  # the terminal page (portal/terminal.py)
    "billing/credits",
    "billing/budgets",
    "billing/invoices",
    "billing/adjustments",
    "billing/records",
    "billing/facility",  # the center overview's facility meters
    "data/datasets",
    "data/uploads",
    "data/tablefiles",
    "data/previews",
    "data/tableviews",
    "data/queries",
    "data/profiles",
    "data/storage",
    "models/models",
    "models/templates",
    "models/template_runs",
    "models/template_runtime",
    "models/template_outputs",
    "models/predictions",
    "models/reviews",  # a data set's rating form (issue 41)
    "serving/deployments",
    "serving/access",
    "serving/replica_spec",
    "serving/adapters",
    "serving/converge",
    "serving/api_keys",
    "serving/gateway",
    "jobs/notebooks",
    "tenancy/oidc",
    "tenancy/sso",
    "reports/monthly",
    "federation/adverts",
    "federation/books",
    "jobs/transitions",
    "notify/channels",  # the inbox page's channels
    "notify/targets",
    "notify/inbox",
    "center/burn_in",  # the heat map's burn-in button (issue 40)
    "nodes/burn_ins",
    "nodes/maintenance",  # the nodes page's maintenance windows (issue 40)
    "leases/leases",  # leases (issue 40)
    "needs/needs",  # needs and challenges (issue 41)
    "needs/challenges",
    "needs/awards",
    "needs/scoring",
    "needs/ratings",  # a need's rating form
    "needs/offers",  # a need's offers
    # OpenAI's files, batches and fine-tuning jobs (issue 60): the /v1 routes answer in English,
    # the catalog keeps their Chinese for a page that shows them
    "jobs/openai_files",
    "serving/batches",
    "serving/acting",
    "models/fine_tuning",
)
_ERRORS = {"ServiceError", "NotFound", "Forbidden", "Conflict", "Invalid", "TooMany", "TooLarge"}
_ERRORS |= {"SignInFailed", "ProviderUnavailable"}  # single sign-on's (services/tenancy/oidc.py)


def raised_templates() -> set[str]:
    """The literal message templates raised there (`raise Invalid("...", ...)`, or made first:
    `missing = NotFound("...")`)."""
    services = PORTAL.parent / "services"
    found = set()
    for path in [*(services / f"{name}.py" for name in SHOWN_SERVICES), *SOURCES]:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            call = node if isinstance(node, ast.Call) else None
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in _ERRORS
                and call.args
                and isinstance(call.args[0], ast.Constant)
            ):
                found.add(call.args[0].value)
    return found


def validation_templates() -> set[str]:
    """What a job spec's validation says on the portal: the domain's refusals of people's
    input (`InputError("...")` in aicc/core, and a deferrable job's window refusals) and the
    portal's words for pydantic's own."""
    found = set(submitting.PYDANTIC.values()) | set(jobspec.WINDOW_TEMPLATES)
    found |= set(jobfiles.MESSAGES)  # what a job wrote, refused by the guard (a page shows it)
    for path in (PORTAL.parent / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "InputError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def catalog_form(template: str) -> str:
    """What the catalog holds for a template: what follows its field's name, or all of it."""
    named = i18n.Message(template).field()
    return named[1].template if named is not None else template


def has_words(text: str) -> bool:
    return bool(re.sub(r"\{[^}]*\}", "", text).strip(string.punctuation + " "))


def test_every_service_message_a_page_shows_has_a_chinese_translation() -> None:
    templates = raised_templates() | validation_templates()
    assert len(templates) > 90  # the scan finds the messages
    wanted = {catalog_form(t) for t in templates if has_words(catalog_form(t))}
    chinese = i18n.error_catalog("zh-CN")
    assert not sorted(wanted - set(chinese)), "service messages without a zh-CN translation"
    assert not sorted(set(chinese) - wanted), "translations of messages no longer raised"
    for text in wanted:
        assert placeholders(chinese[text]) == placeholders(text), text


def test_a_spec_with_mistakes_is_explained_in_the_readers_language() -> None:
    spec = {"command": "x", "max_runtime": "2x", "replicas": 0, "resources": {"cpu": "lots"}}
    with pytest.raises(submitting.Refused) as refused:
        submitting.parse({**spec, "nope": 1})
    zh = i18n.Translator("zh-CN")
    said = {p.path: zh.message(p.message) for p in refused.value.problems}
    assert said == {
        "max_runtime": "时长 '2x' 应写成 '2h'、'30m'、'1h30m' 或 '90s'",
        "replicas": "不能小于 1",
        "resources.cpu": "cpu 'lots' 不是 2、0.5 或 '500m' 这样的数字",
        "nope": "不是此处的字段；`aicc spec schema` 列出了全部字段",
    }
    en = {p.path: i18n.Translator("en").message(p.message) for p in refused.value.problems}
    assert en["replicas"] == "must be at least 1" and en["max_runtime"].startswith("duration '2x'")


def test_a_service_message_is_shown_in_the_readers_language() -> None:
    zh, en = i18n.Translator("zh-CN"), i18n.Translator("en")
    lost = i18n.Message("job {job_id} not found", {"job_id": "job_1"})
    assert (zh.message(lost), en.message(lost)) == ("未找到作业 job_1", "job job_1 not found")
    # a field's name stays as it is, its complaint is translated
    assert zh.message("password: use at least 8 characters") == "password: 至少使用 8 个字符"
    # a message the catalog lacks (a new one, or pydantic's words) stays English, filled in
    assert zh.message(i18n.Message("a {thing} is new", {"thing": "rule"})) == "a rule is new"
    assert zh.message("plain words") == "plain words"


def test_a_deferrable_jobs_window_is_refused_in_the_readers_language() -> None:
    zh = i18n.Translator("zh-CN")
    cases = {
        "deferrable": ({"command": "x", "deferrable": True, "deadline": "12h"}, "需要 max_runtime"),
        "deadline": (
            {"command": "x", "deferrable": True, "max_runtime": "2h", "deadline": "1h"},
            "提交后 3600 秒短于 max_runtime（7200 秒）",
        ),
    }
    for where, (spec, chinese) in cases.items():
        with pytest.raises(submitting.Refused) as refused:
            submitting.parse(spec)
        [problem] = refused.value.problems
        assert problem.path == where
        assert chinese in zh.message(problem.message), zh.message(problem.message)


# --- what the server stores filled in: a job's events and message, why it waits ---

# Where those messages are written: the scheduler's wait reasons, the binding and reconciling
# of jobs, cancelling, draining, notebooks' culling, federation, a template run's outcome.
STORED_IN = (
    *sorted((PORTAL.parent / "scheduler").rglob("*.py")),
    *(
        PORTAL.parent / "services" / f"{name}.py"
        for name in (
            "jobs/binding",
            "jobs/reconciling",
            "jobs/jobs",
            "jobs/notebooks",
            "center/drains",
            "federation/dispatch",
            "models/outputs",
        )
    ),
)
_HOLDERS = {"why", "text", "message", "result", "cull_message"}
# Values that are words, not numbers or names: every one the code puts in.
_WORDS = {
    "what": ("its organization's", "its project's"),
    "lost": ("its node", "its supervisor"),
    "runtime": ("declares no max_runtime", "would still run then"),
    "said": ("", ": cannot open the working copy"),
    "source": ("", " (grid feed)"),
    "PREFIX": ("waits for the site's power cap",),
    "message": ("site b sent no advert for 90 s",),
    "within": ("rack", "pool"),
}


def _shape(node: ast.AST) -> list[str] | None:
    """A string literal or f-string as the texts it can be: each value a sample (a number, or
    each of the words `_WORDS` says it takes)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if not isinstance(node, ast.JoinedStr):
        return None
    texts = [""]
    for part in node.values:
        if isinstance(part, ast.Constant):
            texts = [t + str(part.value) for t in texts]
        elif isinstance(part, ast.FormattedValue):
            name = ast.unparse(part.value).rsplit(".", 1)[-1]
            texts = [t + w for t in texts for w in _WORDS.get(name, ("7",))]
    return texts


def stored_messages() -> set[str]:
    """Every text the scan finds written as an event's or a job's message or a wait reason."""
    found: set[str] = set()
    for path in STORED_IN:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            values: list[ast.AST] = []
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "WaitReason" and len(node.args) > 1:
                    values.append(node.args[1])
                values += [k.value for k in node.keywords if k.arg == "message"]
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    names = target.elts if isinstance(target, ast.Tuple) else [target]
                    sources = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                    for held, value in zip(names, sources, strict=False):
                        said = getattr(held, "id", getattr(held, "attr", ""))
                        if said in _HOLDERS:
                            values.append(value)
            elif isinstance(node, ast.FunctionDef) and node.name == "_failure_message":
                values += [v for d in ast.walk(node) if isinstance(d, ast.Dict) for v in d.values]
            elif isinstance(node, ast.Dict):  # a new job's columns
                values += [v for k, v in zip(node.keys, node.values, strict=True) if k is not None
                           and isinstance(k, ast.Constant) and k.value == "message"]  # fmt: skip
            elif isinstance(node, ast.Return) and path.name == "quota.py":
                values.append(node.value) if node.value is not None else None
            for value in values:
                found |= set(_shape(value) or ())
    return {text for text in found if text.strip()}


def test_every_stored_message_is_shown_in_chinese() -> None:
    """No English is left of a job's events, its message or why it waits on a zh-CN page:
    every message the code writes (each value a sample) matches a template of said.zh-CN.json."""
    messages = stored_messages()
    assert len(messages) > 40, sorted(messages)  # the scan finds them
    zh = i18n.Translator("zh-CN")
    english = re.compile(r"[A-Za-z_]{4,}")
    left = {}
    for text in sorted(messages):
        said = zh.said(text)
        # what stays English is a name the code put in (a node, a config key), never its words
        names = re.sub(r"[\w/.-]+\.md", "", said)  # a document's path stays as it is
        words = set(english.findall(names)) - {"max_retries", "max_runtime", "idle_timeout"}
        words -= {w for value in _WORDS.values() for v in value for w in english.findall(v)}
        if said == text or words - {"advert"}:
            left[text] = said
    assert not left, f"stored messages shown in English on zh-CN pages: {left}"


def test_the_stored_message_catalog_keeps_its_placeholders() -> None:
    said = json.loads((PORTAL / "i18n" / "said.zh-CN.json").read_text("utf-8"))
    for english, chinese in said.items():
        assert placeholders(english) == placeholders(chinese), english
        assert english != chinese and has_words(chinese)
    zh = i18n.Translator("zh-CN")
    assert zh.said("replica 0 exited with code 3") == "副本 0 以退出码 3 退出"
    assert (
        zh.said("the job ended cancelled; nothing was made") == "作业以“已取消”结束；没有产出模型"
    )
    assert zh.said("replica 1 failed (oom_killed)") == "副本 1 失败（内存不足）"
    assert zh.said("something new") == "something new"  # a message no template knows
    # a deployment's message (services/serving/converge.py), a job's message inside it
    assert zh.said(
        "3 replicas in a row never became ready; last: replica job j1 failed: replica 0 "
        "exited with code 1"
    ) == ("连续 3 个副本未能就绪；最近一次：副本作业 j1 失败：副本 0 以退出码 1 退出")
    assert zh.said("1 of 2 replicas ready") == "2 个副本中 1 个已就绪"
    english = "replica 0 exited with code 3"
    assert i18n.Translator("en").said(english) == english


def test_why_a_challenge_submission_failed_is_shown_in_chinese() -> None:
    """A submission's error is stored English (services/needs/scoring.py, core/scoring.py):
    each kind a team can read matches a template of said.zh-CN.json (issue 57)."""
    from aicc.core import scoring as core_scoring
    from aicc.services.needs import scoring

    def refusal(answers: list[object], said: list[object], metric: str = "rmse") -> str:
        with pytest.raises(core_scoring.ScoreError) as refused:
            core_scoring.score(metric, answers, said, [True] * len(answers))
        return str(refused.value)

    stored = [
        scoring.UNREADABLE,
        scoring.UNSCORABLE,
        scoring.CANCELLED,
        scoring.NOT_RUN.format(reason="node_lost"),
        *(end.format(seconds=600, memory="2GiB") for end in scoring.ENDS.values()),
        refusal([1, 2], [1]),
        refusal([1, 2], [1, None]),
        refusal([1, 2], [1, "x"]),
        "the model wrote no predictions.csv",
        "row 4 of predictions.csv has 3 fields, but its header has 2",
        "row 2 of predictions.csv: aicc_row is not a whole number from 0 to 29",
        "row 3 of predictions.csv predicts aicc_row 1 again",
        "predictions.csv is empty: write a header row, then a row each",
        "predictions.csv has two columns aicc_row",
        "predictions.csv has no column y_predicted (nor prediction, nor y)",
    ]
    zh = i18n.Translator("zh-CN")
    left = {text: zh.said(text) for text in stored if zh.said(text) == text}
    assert not left, left


def test_every_notification_template_keeps_its_values_in_chinese() -> None:
    """A notification's Chinese template (`notify.zh-CN.json`) names the same values as its
    English one, so that `Translator.notice` fills it from what the event stored."""
    import string

    from aicc.portal.i18n import notice_catalog

    def names(template: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f}

    found = notice_catalog("zh-CN")
    assert len(found) >= 40
    wrong = [en for en, zh in found.items() if names(en) != names(zh)]
    assert not wrong, wrong
