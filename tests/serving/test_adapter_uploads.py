"""What a replica does with an adapter the gateway hands in (`aicc/serving/adapters.py`
`install`): peft's files, as plain files, at OWNER/NAME with their version; anything else in
the tar (another name, a path out of the folder, a link) is refused and nothing is left."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from aicc.serving.adapters import VERSION_FILE, install, installed
from aicc.serving.protocol import ApiError


def tar(*members: tuple[str, bytes], link: str | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            t.addfile(info)
    return out.getvalue()


PEFT = (("adapter_config.json", b'{"peft_type": "LORA"}'), ("adapter_model.safetensors", b"w1"))


def test_an_adapter_is_installed_replaced_and_versioned(tmp_path: Path) -> None:
    assert installed(tmp_path, "prj_a", "ada") is None
    assert install(tmp_path, "prj_a", "ada", "dsv_1", tar(*PEFT)) == "prj_a/ada"
    where = tmp_path / "prj_a" / "ada"
    assert (where / "adapter_model.safetensors").read_bytes() == b"w1"
    assert installed(tmp_path, "prj_a", "ada") == "dsv_1"
    newer = (PEFT[0], ("adapter_model.safetensors", b"w2"))
    install(tmp_path, "prj_a", "ada", "dsv_2", tar(*newer))
    assert (where / "adapter_model.safetensors").read_bytes() == b"w2"
    assert (where / VERSION_FILE).read_text() == "dsv_2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj_a"]  # no staging left behind


@pytest.mark.parametrize(
    "body",
    [
        tar(*PEFT, ("../../escape.json", b"x")),
        tar(*PEFT, ("train.py", b"import os")),
        tar(*PEFT, link="adapter_model.bin"),
        tar(("adapter_model.safetensors", b"w")),  # no adapter_config.json
        b"not a tar at all",
    ],
)
def test_anything_but_peft_files_is_refused(tmp_path: Path, body: bytes) -> None:
    with pytest.raises(ApiError):
        install(tmp_path, "prj_a", "ada", "dsv_1", body)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ApiError):
        install(tmp_path, "..", "ada", "dsv_1", tar(*PEFT))
    assert installed(tmp_path, "..", "etc") is None
