"""A replica's working copy: the job's uploaded workdir unpacked into its run directory, with the
spec's `checkpoint_dir` pointing at the job's checkpoint directory, which outlives attempts.

Shared by the executors whose replicas run from a run directory (local, Slurm, Ray). Blocking;
idempotent per run directory: a crash midway leaves either no `work/` or a whole one.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from aicc.executors.base import Workdirs

WORK = "work"
OUTPUTS = "outputs"
CHECKPOINT = "checkpoint"


class WorkdirError(RuntimeError):
    """The workdir cannot be unpacked here; the message says why."""


@dataclass(frozen=True)
class Prepared:
    workdir: Path  # the replica's current directory
    outputs: Path  # $AICC_OUTPUT_DIR, one per job, kept
    checkpoints: Path  # $AICC_CHECKPOINT_DIR, one per job, kept across attempts


def prepare(
    *,
    run_dir: Path,
    job_dir: Path,
    blobs: Workdirs | None,
    workdir_sha256: str | None,
    checkpoint_subdir: str | None,
) -> Prepared:
    """Make `run_dir/work` (unpacked once), `job_dir/outputs` and `job_dir/checkpoint`, and link
    the checkpoint subdirectory. Raises WorkdirError when a workdir is asked for and there is no
    blob store to unpack it from."""
    workdir = run_dir / WORK
    if not workdir.exists():
        materialize(blobs, workdir_sha256, workdir)
    outputs, checkpoints = job_dir / OUTPUTS, job_dir / CHECKPOINT
    outputs.mkdir(exist_ok=True)
    checkpoints.mkdir(exist_ok=True)
    if checkpoint_subdir:
        link_checkpoints(workdir, checkpoint_subdir, checkpoints)
    return Prepared(workdir, outputs, checkpoints)


def materialize(blobs: Workdirs | None, sha256: str | None, workdir: Path) -> None:
    """Unpack into a temporary sibling, then rename: a crash never leaves half a workdir. No
    digest gives an empty directory. An archive beyond the store's limits of unpacked bytes
    and files (`limits.max_unpacked_mib`, `limits.max_workdir_files`) is refused before a
    byte is written: WorkdirError, which fails the replica with that message."""
    partial = workdir.with_name(workdir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    if sha256:
        if blobs is None:
            raise WorkdirError("this executor has no blob store to unpack workdirs from")
        try:
            blobs.materialize(sha256, partial)
        except ValueError as err:  # the store's BlobError: a bad or oversized archive
            raise WorkdirError(f"workdir {sha256[:12]}: {err}") from None
    else:
        partial.mkdir()
    os.replace(partial, workdir)


def link_checkpoints(workdir: Path, subdir: str, checkpoints: Path) -> None:
    """Make `checkpoint_dir` in the workdir point at the job's checkpoint directory, which
    outlives attempts. What the upload shipped there seeds it on the first attempt. A subdir
    that leaves the workdir, or is already a link, is left alone."""
    link = workdir / subdir
    if not link.resolve().is_relative_to(workdir.resolve()) or link.is_symlink():
        return
    if link.is_dir():
        if not any(checkpoints.iterdir()):
            for item in link.iterdir():
                shutil.move(str(item), checkpoints / item.name)
        shutil.rmtree(link)
    elif link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(checkpoints, target_is_directory=True)
