"""Price-unit metrics, persistence, and the linear baseline's training-only fit."""

import numpy as np
import pytest
import torch

from sklearn.linear_model import Ridge

from stockrnn.evaluation import baselines
from stockrnn.evaluation.baselines import ALPHAS, fit_linear_baseline, flat_windows
from stockrnn.data.windows import PooledWindows
from stockrnn.data.targets import TargetCodec
from stockrnn.data.windows import WindowDataset
from stockrnn.evaluation.metrics import error_metrics, forecast_report, persistence_forecast


def test_error_metrics_by_hand():
    actual = np.array([[10.0], [12.0], [11.0]])
    predicted = np.array([[11.0], [11.0], [11.0]])
    last = np.array([9.0, 10.0, 12.0])
    m = error_metrics(actual, predicted, last)
    assert m["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["mape"] == pytest.approx(100 * (1 / 10 + 1 / 12) / 3)
    # moves: predicted +2,+1,-1 vs actual +1,+2,-1: all three signs agree
    assert m["direction_acc"] == 1.0


def test_persistence_repeats_the_last_known_value_and_skill_compares_with_it():
    last = np.array([1.0, 2.0])
    np.testing.assert_array_equal(persistence_forecast(last, 3), [[1, 1, 1], [2, 2, 2]])
    actual = np.array([[2.0], [4.0]])
    report = forecast_report(actual, actual + 0.5, actual, last)
    assert report["persistence_rmse"] == pytest.approx(np.sqrt((1 + 4) / 2))
    assert report["skill"] == pytest.approx(1 - 0.5 / report["persistence_rmse"])
    assert report["linear_skill"] == 1.0 and report["n_test"] == 2
    assert {"dm_stat_persistence", "dm_pvalue_persistence", "dm_stat_linear", "dm_pvalue_linear",
            "pt_pvalue"} <= set(report)


def linear_series(n=300, seed=0):
    """x_t random; y_t = 0.5 x_{t-1} - 0.25 x_{t-2} + 0.1: exactly linear in the window."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.zeros(n)
    y[2:] = 0.5 * x[1:-1] - 0.25 * x[:-2] + 0.1
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def datasets(x, y):
    return [WindowDataset(x[:, None], y, 2, 1, first, count) for first, count in ((2, 200), (202, 48), (250, 50))]


def test_linear_baseline_recovers_a_linear_rule():
    train, val, test = datasets(*linear_series())
    model = fit_linear_baseline(train, val)
    assert model.lags == 2
    np.testing.assert_allclose(model.coef.ravel(), [-0.25, 0.5], atol=1e-3)
    _, y_test, _ = test.all_windows()
    assert np.sqrt(np.mean((model.predict(test) - y_test.numpy()) ** 2)) < 1e-3


def test_linear_baseline_never_sees_test_windows():
    x, y = linear_series()
    train, val, test = datasets(x, y)
    before = fit_linear_baseline(train, val).coef.copy()
    x2, y2 = x.clone(), y.clone()
    x2[250:] += 100.0
    y2[250:] -= 50.0
    train2, val2, _ = datasets(x2, y2)
    np.testing.assert_array_equal(fit_linear_baseline(train2, val2).coef, before)


def test_linear_baseline_shrinks_hard_when_the_window_carries_no_signal():
    # 20 inputs, 60 training windows, a target of pure noise: least squares fits the noise, and
    # validation must be able to choose a strength that shrinks the coefficients toward zero.
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=200), dtype=torch.float32)
    y = torch.tensor(rng.normal(size=200), dtype=torch.float32)
    train, val = (WindowDataset(x[:, None], y, 20, 1, first, count) for first, count in ((20, 60), (80, 120)))
    model = fit_linear_baseline(train, val)
    assert model.alpha >= 100
    assert np.abs(model.coef).max() < 0.1


def test_validation_chooses_the_ridges_recent_days_and_the_fit_is_sklearns_ridge():
    # Two inputs, 10-day windows, a target driven by yesterday's first input only: the extra days
    # are noise to the ridge, and validation should keep it to the most recent one.
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(400, 2)), dtype=torch.float32)
    y = torch.zeros(400)
    y[1:] = 0.7 * x[:-1, 0] + 0.3 * torch.tensor(rng.normal(size=399), dtype=torch.float32)
    train, val = (WindowDataset(x, y, 10, 1, first, count) for first, count in ((10, 150), (160, 240)))
    model = fit_linear_baseline(train, val)
    assert model.lags == 1 and model.coef.shape == (2, 1)
    x_train, y_train = flat_windows(train, model.lags)
    reference = Ridge(alpha=model.alpha).fit(x_train, y_train)
    np.testing.assert_allclose(model.coef.ravel(), reference.coef_.ravel(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.predict(val).ravel(), reference.predict(flat_windows(val, 1)[0]).ravel(),
                               rtol=1e-8)



def full_matrix_ridge(train, val) -> tuple[int, float, np.ndarray, np.ndarray]:
    """The grid solved the plain way: every window at once, (X'X + alpha I) coef = X'y on the centred
    training windows for each number of days and strength, the first smallest validation error."""
    x_train, y_train = flat_windows(train)
    x_val, y_val = flat_windows(val)
    n_features = x_train.shape[1] // train.n_steps
    best = (np.inf,)
    for lags in range(1, train.n_steps + 1):
        x, v = x_train[:, -lags * n_features:], x_val[:, -lags * n_features:]
        x_mean, y_mean = x.mean(axis=0), y_train.mean(axis=0)
        centred = x - x_mean
        for alpha in ALPHAS:
            gram = centred.T @ centred + alpha * np.eye(x.shape[1])
            coef = np.linalg.solve(gram, centred.T @ (y_train - y_mean))
            intercept = y_mean - x_mean @ coef
            error = np.mean((v @ coef + intercept - y_val) ** 2)
            if error < best[0]:
                best = (error, lags, alpha, coef, intercept)
    return best[1:]


def price_panel(n_series: int = 3, seed: int = 2) -> tuple[PooledWindows, PooledWindows]:
    """Training and validation windows of random walks far from zero (so centring matters), each
    series at its own level: three inputs, 6-day windows, two days ahead."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for k in range(n_series):
        walk = 100 * (k + 1) + np.cumsum(rng.normal(size=(200, 3)), axis=0)
        inputs = torch.tensor(walk, dtype=torch.float32)
        prices = inputs[:, 0] + torch.tensor(rng.normal(size=200), dtype=torch.float32)
        codec = TargetCodec("diff", 0.0, 1.0)
        train.append(WindowDataset(inputs, prices, 6, 2, 6, 140, codec))
        val.append(WindowDataset(inputs, prices, 6, 2, 146, 53, codec))
    return PooledWindows(train, list(range(n_series))), PooledWindows(val, list(range(n_series)))


@pytest.mark.parametrize("panel", [False, True], ids=["one series", "panel"])
def test_the_ridge_read_in_chunks_is_the_ridge_of_every_window_at_once(monkeypatch, panel):
    if panel:
        train, val = price_panel()
    else:
        x, y = linear_series(600, seed=4)
        x = x.cumsum(0) + 50  # a level far from zero: a careless Gram matrix would lose digits
        train, val = (WindowDataset(x[:, None], y, 5, 1, first, count)
                      for first, count in ((5, 400), (405, 190)))
    monkeypatch.setattr(baselines, "CHUNK_VALUES", 37)  # a few windows per chunk: dozens of chunks
    assert len(list(baselines.window_chunks(train))) > 20
    model = fit_linear_baseline(train, val)
    lags, alpha, coef, intercept = full_matrix_ridge(train, val)
    assert (model.lags, model.alpha) == (lags, alpha)
    np.testing.assert_allclose(model.coef, coef, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.intercept, intercept, rtol=0, atol=1e-9)
    x_val, _ = flat_windows(val, lags)
    np.testing.assert_allclose(model.predict(val), x_val @ coef + intercept, rtol=0, atol=1e-8)


def test_multi_step_reports_each_step_beside_persistence():
    last = np.array([10.0, 11.0])
    actual = np.array([[11.0, 13.0], [12.0, 12.0]])
    predicted = np.array([[11.0, 12.0], [12.0, 12.0]])
    report = forecast_report(actual, predicted, predicted, last)
    assert report["test_rmse_step1"] == 0.0
    assert report["test_rmse_step2"] == pytest.approx(np.sqrt(1 / 2))
    # persistence repeats the last known value at every step
    assert report["persistence_rmse_step2"] == pytest.approx(np.sqrt((9 + 1) / 2))
    assert report["skill_step2"] == pytest.approx(1 - np.sqrt(1 / 2) / np.sqrt(5))
    assert report["test_rmse"] == pytest.approx(np.sqrt(1 / 4))


def test_the_prediction_figure_draws_both_baselines_beside_the_model():
    import pandas as pd

    from stockrnn.outputs.plots import predictions_figure

    table = pd.DataFrame({"date": ["2021-01-04", "2021-01-05"], "actual": [1.0, 2.0], "predicted": [1.5, 1.5],
                          "persistence": [0.5, 1.0], "linear": [1.2, 1.8]})
    ax = predictions_figure(table, "t", "High (prices.csv)").axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["actual", "predicted", "persistence", "linear"]
    np.testing.assert_array_equal(ax.get_lines()[3].get_ydata(), [1.2, 1.8])


def test_the_prediction_figures_legend_hides_no_data_and_its_y_axis_names_the_series():
    import pandas as pd

    from stockrnn.outputs.plots import predictions_figure

    dates = pd.bdate_range("2021-01-04", periods=60)
    rising = np.linspace(100, 160, 60)
    table = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "actual": rising, "predicted": rising + 1,
                          "persistence": rising - 1, "linear": rising})
    fig = predictions_figure(table, "t", "High (embedded dataset 'msft')")
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    legend, data_area = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert not legend.overlaps(data_area)
    assert legend.x1 <= fig.bbox.x1  # and it is not cut off at the figure's edge
    assert ax.get_ylabel() == "High (embedded dataset 'msft')"
