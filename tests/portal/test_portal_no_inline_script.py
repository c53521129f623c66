"""The portal's content security policy forbids inline script (portal/rendering.py): an event
handler attribute in a template (`onchange="..."`) is silently dead in every browser, as the
images page's project picker was (issue 58). Behaviour lives in portal/static/portal.js."""

from __future__ import annotations

import re
from pathlib import Path

import aicc.portal

TEMPLATES = Path(aicc.portal.__file__).parent / "templates"
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", re.IGNORECASE)


def test_no_template_has_inline_script_the_policy_would_block() -> None:
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.name}: {m.group(0)[:80]}" for m in HANDLER.finditer(text)]
        found += [f"{path.name}: {m.group(0)[:80]}" for m in INLINE_SCRIPT.finditer(text)]
    assert not found, found
