"""LoRA adapters over the one base model a replica holds, without merging: `model: "BASE:NAME"`
picks adapter NAME for one request. An adapter is found under the replica's adapters directory
as `OWNER/NAME` (a model version's files, or an adapter directory), where OWNER is the caller's
tenant (the project the gateway names in `x-aicc-tenant`) or `shared`; anything else, another
tenant's adapter included, does not exist for this caller (a 404, the same as a name nobody
has).

Adapters are loaded into the base (peft's `load_adapter`) on first use and kept in an LRU cache
bounded in bytes (their weights' size on disk): one that does not fit evicts the least recently
used first (`delete_adapter`). A replica started with `--adapter-uploads` also takes adapters
the gateway hands in (`install`, `PUT /aicc/adapters/OWNER/NAME`): those a deployment has
attached, each the first time the gateway routes a request for it here. All of it runs on the
model's one thread, one request at a time, so the adapter a request activated stays active
until it ends."""

from __future__ import annotations

import io
import re
import shutil
import tarfile
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .choose import model_files
from .protocol import ApiError

SHARED = "shared"  # the owner whose adapters every tenant may use
TENANT_HEADER = "x-aicc-tenant"  # set by the gateway; a client's own headers never reach here
# Answers' headers, for the gateway's routing: the adapter the request used (OWNER/NAME), and
# the adapters evicted since the last answer said so (each reported once, comma-separated).
ADAPTER_HEADER = "x-aicc-adapter"
EVICTED_HEADER = "x-aicc-adapters-evicted"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
VERSION_HEADER = "x-aicc-adapter-version"  # with an adapter handed in: its version
VERSION_FILE = ".version"  # beside an adapter the gateway handed in: its model version's id


def split(model: str) -> tuple[str, str | None]:
    """`BASE:NAME` as (base, adapter name); a plain name has no adapter."""
    base, colon, adapter = model.partition(":")
    return base, (adapter if colon else None)


def locate(root: Path | None, tenant: str | None, name: str, model: str) -> tuple[str, Path]:
    """The adapter `name` as `tenant` may see it, its own first, then a shared one: its key
    (OWNER/NAME) and its files. Whatever it may not see is a 404, as a name nobody has."""
    missing = ApiError(
        f"the model {model!r} does not exist", param="model", code="model_not_found", status=404
    )
    if root is None or not NAME.fullmatch(name):
        raise missing
    owners = [tenant] if tenant and NAME.fullmatch(tenant) and tenant != SHARED else []
    for owner in [*owners, SHARED]:
        path = model_files(root / owner / name)
        if (path / "adapter_config.json").is_file():
            return f"{owner}/{name}", path
    raise missing


def installed(root: Path, owner: str, name: str) -> str | None:
    """The version of the adapter the gateway last handed in as OWNER/NAME (None: none)."""
    if not (NAME.fullmatch(owner) and NAME.fullmatch(name)):
        return None
    mark = root / owner / name / VERSION_FILE
    return mark.read_text("utf-8") if mark.is_file() else None


def install(root: Path, owner: str, name: str, version: str, body: bytes) -> str:
    """Put the adapter the gateway hands in (`body`: a tar of its files) at OWNER/NAME under
    `root`, replacing what was there, and mark its `version`; returns its key OWNER/NAME. Only
    peft's files are taken, as plain files; anything else in the tar is a 400."""
    if not (NAME.fullmatch(owner) and NAME.fullmatch(name) and NAME.fullmatch(version)):
        raise ApiError("an adapter's owner, name and version are plain names", code="bad_adapter")
    allowed = {"adapter_config.json", *WEIGHTS}
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.name not in allowed:
                    raise ApiError(
                        f"an adapter holds only {', '.join(sorted(allowed))}",
                        code="bad_adapter",
                    )
                source = tar.extractfile(member)
                assert source is not None
                (staging / member.name).write_bytes(source.read())
        if not (staging / "adapter_config.json").is_file():
            raise ApiError("an adapter needs adapter_config.json", code="bad_adapter")
        (staging / VERSION_FILE).write_text(version, "utf-8")
        (root / owner).mkdir(exist_ok=True)
        dest = root / owner / name
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-", dir=root))
            dest.rename(old / name)
            shutil.rmtree(old, ignore_errors=True)
        staging.rename(dest)
    except tarfile.TarError:
        raise ApiError(
            "the body must be a tar of the adapter's files", code="bad_adapter"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return f"{owner}/{name}"


def size_of(path: Path) -> int:
    """An adapter's bytes, as the cache counts them: its weights' size on disk."""
    return sum((path / w).stat().st_size for w in WEIGHTS if (path / w).is_file())


@dataclass
class Adapters:
    """The adapters loaded into one base, least recently used first, within `bound` bytes.
    `load(key, path)` and `unload(key)` do the model's side (peft); this class decides."""

    bound: int
    load: Callable[[str, Path], None]
    unload: Callable[[str], None]
    clock: Callable[[], float] = time.perf_counter
    held: OrderedDict[str, int] = field(default_factory=OrderedDict)  # key -> bytes
    loads: int = 0
    evictions: int = 0
    load_seconds: list[float] = field(default_factory=list)  # each cold load, for the bench
    unreported: list[str] = field(default_factory=list)  # evicted, not yet in an answer

    def report(self) -> str:
        """The evictions no answer has told yet, for `EVICTED_HEADER` (then forgotten)."""
        told, self.unreported = self.unreported, []
        return ",".join(told)

    @property
    def used(self) -> int:
        return sum(self.held.values())

    def drop(self, key: str) -> None:
        """Forget `key` (its files were replaced): the next request loads it anew."""
        if self.held.pop(key, None) is not None:
            self.unload(key)

    def acquire(self, key: str, path: Path) -> list[str]:
        """Make `key` loaded and most recent; returns the keys evicted to make room. An adapter
        larger than the whole cache is a 400 (nothing is evicted for it)."""
        if key in self.held:
            self.held.move_to_end(key)
            return []
        size = size_of(path)
        if size > self.bound:
            raise ApiError(
                f"this adapter has {size} bytes of weights; this replica's adapter cache holds "
                f"at most {self.bound}",
                param="model",
                code="adapter_too_large",
            )
        evicted = []
        while self.held and self.used + size > self.bound:
            old, _ = self.held.popitem(last=False)
            self.unload(old)
            evicted.append(old)
            self.unreported.append(old)
            self.evictions += 1
        started = self.clock()
        self.load(key, path)
        self.load_seconds.append(self.clock() - started)
        self.held[key] = size
        self.loads += 1
        return evicted


class PeftHost:
    """peft's side of the cache: adapters injected into the base model in place, so the
    model's own forward applies the active one (`activate`); None runs the base alone. peft
    names each adapter `a<N>` (its names become module keys, which take no dots).

    A switch sets the active adapter on the adapter layers alone: peft's `set_adapter` walks
    every module and sets `requires_grad` on every loaded adapter's weights, a cost that grows
    with the adapters loaded (about 1 ms each, per switch) for what inference never reads.
    Each plain LoRA linear layer then runs `LoraDelta` instead of peft's forward (see there)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.peft: Any = None  # the PeftModel, once the first adapter is loaded
        self.names: dict[str, str] = {}  # cache key -> peft's adapter name
        self.count = 0
        self.layers: list[Any] = []  # peft's adapter layers, where the active adapter is read
        self.active: str | None = None
        self.known = True  # `active` is what the layers apply (false after a load or unload)
        self.enabled = True  # the adapter layers are on (a new PeftModel's are)
        self.deltas: list[LoraDelta] = []  # the layers whose forward is a `LoraDelta`

    def load(self, key: str, path: Path) -> None:
        self.count += 1
        name = self.names[key] = f"a{self.count}"
        if self.peft is None:
            from peft import PeftModel

            self.peft = PeftModel.from_pretrained(self.model, path, adapter_name=name)
        else:
            self.peft.load_adapter(path, adapter_name=name)
        self.peft.eval()
        self.known = False  # loading the first one made it active
        from peft.tuners.tuners_utils import BaseTunerLayer

        self.layers = [m for m in self.model.modules() if isinstance(m, BaseTunerLayer)]
        from peft.tuners.lora import Linear

        for layer in self.layers:
            if type(layer) is Linear and not isinstance(layer.forward, LoraDelta):
                # the instance's own forward, which `Module.__call__` calls; peft's stays
                layer.forward = LoraDelta(layer)  # type: ignore[method-assign]
        self.deltas = [m.forward for m in self.layers if isinstance(m.forward, LoraDelta)]

    def unload(self, key: str) -> None:
        self.peft.delete_adapter(self.names.pop(key))
        self.known = False

    def activate(self, key: str | None) -> None:
        """Make `key`'s adapter the one the base applies (None: none)."""
        if self.peft is None or (self.known and key == self.active):
            return
        if (key is not None) != self.enabled:  # walks every module: only when it changes
            if key is None:
                self.peft.base_model.disable_adapter_layers()
            else:
                self.peft.base_model.enable_adapter_layers()
            self.enabled = key is not None
        if key is not None:
            name = [self.names[key]]
            for layer in self.layers:
                layer._active_adapter = name  # what `BaseTunerLayer.active_adapters` reads
        for delta in self.deltas:
            delta.activate(self.names[key] if key is not None else None)
        self.active, self.known = key, True


class LoraDelta:
    """A peft LoRA linear layer's forward for one active adapter, as serving engines compute it:
    the base layer's output plus the adapter's low-rank delta, two small matmuls (`x A^T`, then
    by `B^T` scaled once at the switch), four operations in all. peft's own forward loops over
    the active adapters through module calls, dropout, casts and the scaling: some ten
    operations a layer, each a Python dispatch that costs as much as a matmul at a small width,
    on every token. Adapters off (or one this layer lacks) run the base layer alone; what this
    does not cover (DoRA and other variants, a bias on B, a merged layer, training, a mixed
    batch) runs peft's forward, so the answer stays what peft (and the merged model) says."""

    def __init__(self, layer: Any) -> None:
        import torch

        self.layer = layer
        self.linear = torch.nn.functional.linear
        self.plain = type(layer.base_layer) is torch.nn.Linear  # else call the base module
        self.base: tuple[Any, Any] | None = None  # a plain base's weight and bias
        self.lora: tuple[Any, Any] | None = None  # the active adapter's A, and B scaled
        self.peft = True  # peft's own forward, until `activate` says otherwise

    def activate(self, name: str | None) -> None:
        """Apply adapter `name` from now on (None: the base alone). The host calls it after
        peft's layers are enabled or disabled to match, at every switch, load and unload."""
        layer = self.layer
        base = layer.base_layer
        self.base = (base.weight, base.bias) if self.plain else None
        self.lora = None
        self.peft = layer.merged or (name is not None and layer.disable_adapters)
        if self.peft or name is None or name not in layer.lora_A:
            return  # peft applies nothing here either: it skips adapters a layer lacks
        b = layer.lora_B[name]
        if name in layer.lora_variant or b.bias is not None:
            self.peft = True
            return
        self.lora = (layer.lora_A[name].weight, b.weight.detach() * layer.scaling[name])

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        layer = self.layer
        if self.peft or args or kwargs or layer.training:
            return type(layer).forward(layer, x, *args, **kwargs)
        result = self.linear(x, *self.base) if self.base is not None else layer.base_layer(x)
        if self.lora is None:
            return result
        a, b = self.lora
        if x.dtype == a.dtype == result.dtype:
            return result.add_(self.linear(self.linear(x, a), b))
        delta = self.linear(self.linear(x.to(a.dtype), a), b)  # as peft: in the adapter's dtype
        return (result + delta).to(result.dtype)
