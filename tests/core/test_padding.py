"""The one padding helper (avsr/core/padding.py)."""

import numpy as np
import torch

from avsr.core.padding import pad


def test_pads_after_each_item_and_returns_lengths():
    x, n = pad([np.ones((2, 3), np.float32), np.full((4, 3), 2, np.float32)])
    assert x.shape == (2, 4, 3) and x.dtype == torch.float32 and n.tolist() == [2, 4]
    assert x[0, 2:].abs().sum() == 0 and (x[1] == 2).all()


def test_missing_items_have_length_zero():
    crops = np.full((3, 88, 88), 7, np.uint8)
    x, n = pad([None, crops], torch.uint8)
    assert n.tolist() == [0, 3] and x.dtype == torch.uint8 and x[0].sum() == 0 and (x[1] == 7).all()
    x, n = pad([None, None], torch.uint8, (88, 88))
    assert x is None and n.tolist() == [0, 0]


def test_tensors_and_an_explicit_shape():
    x, n = pad([torch.arange(3), torch.arange(1)])
    assert x.tolist() == [[0, 1, 2], [0, 0, 0]] and n.tolist() == [3, 1]


def test_numpy_padding_is_the_same_without_torch():
    from avsr.core.padding import pad_array

    items = [np.ones((2, 3), np.float32), None, np.full((4, 3), 2, np.float32)]
    x, n = pad_array(items)
    assert isinstance(x, np.ndarray) and x.shape == (3, 4, 3) and n.tolist() == [2, 0, 4]
    t, m = pad(items)
    assert np.array_equal(t.numpy(), x) and m.tolist() == n.tolist()
    none, lengths = pad_array([None, None])
    assert none is None and lengths.tolist() == [0, 0] and pad_array([])[0] is None
