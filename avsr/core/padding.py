"""The one padding helper: variable-length arrays -> one zero-padded batch tensor and lengths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def pad(
    arrays: Sequence[np.ndarray | torch.Tensor | None],
    dtype: torch.dtype | None = None,
    shape: tuple[int, ...] | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``B`` arrays of shape (T_i, *rest) -> ((B, max T_i, *rest) tensor padded with zeros after
    each array's end, (B,) lengths). ``None`` items have length 0 (e.g. a clip without video); when
    every item is None the tensor is None. ``shape`` gives ``rest`` (and ``dtype`` the dtype) when
    it cannot be read from the items."""
    import torch

    if dtype is None and all(a is None or isinstance(a, np.ndarray) for a in arrays):
        out, lengths = pad_array(arrays, shape)
        return (None if out is None else torch.from_numpy(out)), torch.from_numpy(lengths)
    lengths = torch.tensor([0 if a is None else len(a) for a in arrays])
    first = next((a for a in arrays if a is not None), None)
    if first is None or int(lengths.max()) == 0:
        return None, lengths
    rest = tuple(first.shape[1:]) if shape is None else shape
    if dtype is None:
        dtype = first.dtype if isinstance(first, torch.Tensor) else torch.from_numpy(np.asarray(first[:0])).dtype
    out = torch.zeros((len(arrays), int(lengths.max()), *rest), dtype=dtype)
    for i, a in enumerate(arrays):
        if a is not None and len(a):
            out[i, : len(a)] = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    return out, lengths


def pad_array(
    arrays: Sequence[np.ndarray | None], shape: tuple[int, ...] | None = None
) -> tuple[np.ndarray | None, np.ndarray]:
    """:func:`pad` for NumPy arrays, in NumPy (the torch-free path): ((B, max T_i, *rest) array
    or None, (B,) int64 lengths)."""
    lengths = np.array([0 if a is None else len(a) for a in arrays], dtype=np.int64)
    first = next((a for a in arrays if a is not None), None)
    if first is None or int(lengths.max(initial=0)) == 0:
        return None, lengths
    rest = tuple(first.shape[1:]) if shape is None else shape
    out = np.zeros((len(arrays), int(lengths.max()), *rest), dtype=np.asarray(first).dtype)
    for i, a in enumerate(arrays):
        if a is not None and len(a):
            out[i, : len(a)] = a
    return out, lengths
