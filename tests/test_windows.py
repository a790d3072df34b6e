"""Windowing: the tutorial's split_sequence, views instead of copies, batched gathers."""

import numpy as np
import torch

from stockrnn.data.targets import TargetCodec
from stockrnn.data.window_norm import EPSILON, denormalize, normalize, window_statistics
from stockrnn.data.windows import PooledWindows, WindowDataset


def split_sequence(sequence, n_steps):
    """The seed notebook's windowing, verbatim in behaviour."""
    X, y = [], []
    for i in range(len(sequence)):
        end_ix = i + n_steps
        if end_ix > len(sequence) - 1:
            break
        X.append(sequence[i:end_ix])
        y.append(sequence[end_ix])
    return np.array(X), np.array(y)


def test_windows_equal_the_tutorials_split_sequence():
    series = np.random.default_rng(0).normal(size=50).astype(np.float32)
    for n_steps in (1, 3, 10):
        expected_x, expected_y = split_sequence(series, n_steps)
        t = torch.from_numpy(series)
        dataset = WindowDataset(t[:, None], t, n_steps, 1, n_steps, len(series) - n_steps)
        x, y, _ = dataset.all_windows()
        np.testing.assert_array_equal(x[..., 0].numpy(), expected_x)
        np.testing.assert_array_equal(y[:, 0].numpy(), expected_y)


def test_windows_are_views_of_the_series():
    inputs = torch.arange(20.0).reshape(10, 2)
    dataset = WindowDataset(inputs, inputs[:, 0], 3, 1, 3, 7)
    assert dataset.input_windows.untyped_storage().data_ptr() == inputs.untyped_storage().data_ptr()
    assert dataset.target_windows.untyped_storage().data_ptr() == inputs.untyped_storage().data_ptr()


def test_window_r_reads_the_rows_before_r_and_forecasts_r_onwards():
    inputs = torch.arange(30.0).reshape(15, 2)  # row i holds (2i, 2i+1)
    targets = torch.arange(15.0) * 100
    dataset = WindowDataset(inputs, targets, n_steps=4, horizon=3, first_target_row=6, length=5)
    x, y, anchor = dataset[0]
    torch.testing.assert_close(x, inputs[2:6])
    torch.testing.assert_close(y, targets[6:9])
    assert anchor == targets[5]
    assert dataset.target_rows().tolist() == [6, 7, 8, 9, 10]


def test_a_batched_gather_equals_the_single_windows_stacked():
    inputs = torch.randn(40, 3)
    dataset = WindowDataset(inputs, inputs[:, 1], 5, 2, 7, 20)
    picked = [4, 0, 19, 7]
    for part, batched in enumerate(dataset.__getitems__(picked)):
        torch.testing.assert_close(batched, torch.stack([dataset[i][part] for i in picked]))


def test_window_norm_scales_each_input_window_by_its_own_statistics_and_leaves_the_targets():
    rng = np.random.default_rng(1)
    inputs = torch.from_numpy(rng.normal(size=(40, 2)).cumsum(axis=0).astype(np.float32) + 100)
    prices = inputs[:, 0].contiguous()
    plain = WindowDataset(inputs, prices, 8, 2, 8, 25)
    x_plain, y_plain, anchor_plain = plain.all_windows()
    for kind in ("standard", "robust"):
        x, y, anchor = WindowDataset(inputs, prices, 8, 2, 8, 25, window_norm=kind).all_windows()
        assert torch.equal(y, y_plain) and torch.equal(anchor, anchor_plain)
        if kind == "standard":
            torch.testing.assert_close(x.mean(dim=1), torch.zeros(25, 2), atol=1e-4, rtol=0)
            torch.testing.assert_close(x.std(dim=1, correction=0), torch.ones(25, 2), atol=1e-4, rtol=0)
        else:  # median 0 and interquartile range 1, as numpy computes them (linear interpolation)
            windows = x_plain.double().numpy()
            median = np.median(windows, axis=1, keepdims=True)
            iqr = np.subtract(*np.percentile(windows, [75, 25], axis=1, keepdims=True))
            np.testing.assert_allclose(x.numpy(), (windows - median) / iqr, atol=1e-4)
    # A pooled panel normalizes as its series' own datasets do, batch by batch.
    codec = TargetCodec.fit("level", "none", prices.numpy())
    own = WindowDataset(inputs, prices, 8, 2, 8, 25, codec, window_norm="standard")
    pooled = PooledWindows([own], [0])
    assert torch.equal(pooled.__getitems__(torch.arange(3, 9))[0], own.__getitems__(torch.arange(3, 9))[0])


def test_without_window_norm_the_gathered_windows_are_the_stored_views_untouched():
    inputs = torch.arange(20.0).reshape(10, 2)
    x, _, _ = WindowDataset(inputs, inputs[:, 0], 3, 1, 3, 7).__getitems__(torch.arange(7))
    assert torch.equal(x, inputs.unfold(0, 3, 1).transpose(1, 2)[:7])


def test_a_constant_window_becomes_zeros_not_a_division_by_zero():
    for dtype in (torch.float32, torch.float64):
        flat = torch.full((2, 5, 3), 0.7, dtype=dtype)
        for kind in ("standard", "robust"):
            centre, spread = window_statistics(flat, kind)
            assert (spread == EPSILON).all()  # the floor, not zero
            normalized = normalize(flat, kind)
            assert torch.equal(normalized, torch.zeros_like(flat))
            assert torch.equal(denormalize(normalized, centre, spread), flat)
