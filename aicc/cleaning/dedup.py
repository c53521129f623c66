"""Duplicate removal: exact (the same text once normalized) and near (MinHash LSH over
character shingles, so Chinese, written without spaces, works as well as English).

Both keep the first record of a group and drop the later ones, so a run over the same files in
the same order drops the same records. Empty and whitespace-only texts are never duplicates:
removing them is the filter's job, and a blank line between paragraphs is not a repeat.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Final

import blake3
import numpy as np
from datasketch import MinHash, MinHashLSH

NUM_PERM: Final = 128
SHINGLE: Final = 5
# A Chinese character says about what three or four Latin letters do: 5-character shingles
# would let two edits in a 70-character sentence hide a near-duplicate.
CJK_SHINGLE: Final = 3
SEED: Final = 1
# LSH bands favour recall (few near-duplicates missed); every candidate is then checked against
# the threshold with the two signatures, so the extra candidates cost time, not precision.
_WEIGHTS: Final = (0.1, 0.9)
_MIX: Final = np.uint32(0x01000193)  # FNV's prime: the rolling hash of a shingle's characters


def normalize(text: str) -> str:
    """What two texts must share to be the same: NFKC (full-width to half-width), case folded,
    runs of whitespace as one space, no space at either end."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class ExactDedup:
    """Drops a text whose normalized form was seen before; remembers 16 bytes per text."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def seen(self, text: str) -> bool:
        """Whether `text` repeats an earlier one (and remember it if not)."""
        norm = normalize(text)
        if not norm:
            return False
        key = blake3.blake3(norm.encode()).digest(length=16)
        if key in self._seen:
            return True
        self._seen.add(key)
        return False


class NearDedup:
    """Drops a text whose estimated Jaccard similarity to an earlier kept text, over their sets
    of character shingles, is at least `threshold`. Shingles are 5 characters long, 3 in text
    written mostly in CJK characters.

    Signatures are seeded, so the same input always drops the same records. Memory grows with
    the texts kept: the LSH index's buckets and a 512-byte signature each.
    """

    def __init__(self, threshold: float = 0.8, *, num_perm: int = NUM_PERM) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold {threshold}: a similarity above 0 and at most 1")
        self.threshold = threshold
        self._perms = MinHash(num_perm=num_perm, seed=SEED).permutations
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=_WEIGHTS)
        self._signatures = np.empty((1024, num_perm), dtype=np.uint32)
        self._kept = 0

    def signature(self, text: str) -> MinHash | None:
        """The MinHash of the text's shingles; None for a text with no characters."""
        norm = normalize(text)
        if not norm:
            return None
        signature = MinHash(
            num_perm=len(self._perms[0]), scheme="affine32", permutations=self._perms, hashfunc=int
        )
        signature.update_batch(shingles(norm).tolist())
        return signature

    def seen(self, text: str) -> bool:
        """Whether `text` nearly repeats an earlier kept one (and index it if not)."""
        signature = self.signature(text)
        if signature is None:
            return False
        values = signature.hashvalues
        for key in self._lsh.query(signature):
            if np.count_nonzero(self._signatures[key] == values) >= self.threshold * len(values):
                return True
        if self._kept == len(self._signatures):
            self._signatures = np.concatenate([self._signatures, np.empty_like(self._signatures)])
        self._signatures[self._kept] = values
        self._lsh.insert(self._kept, signature, check_duplication=False)
        self._kept += 1
        return False


def shingles(text: str) -> np.ndarray[Any, np.dtype[np.uint32]]:
    """A 32-bit hash of every run of 5 characters (3 in CJK text; the whole text when
    shorter)."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    cjk = np.count_nonzero(
        ((points >= 0x3040) & (points <= 0x9FFF))
        | ((points >= 0xAC00) & (points <= 0xD7AF))
        | (points >= 0x20000)
    )
    width = min(CJK_SHINGLE if 2 * cjk >= len(points) else SHINGLE, len(points))
    count = len(points) - width + 1
    hashes = points[:count].copy()
    for i in range(1, width):
        hashes *= _MIX
        hashes ^= points[i : i + count]
    return hashes
