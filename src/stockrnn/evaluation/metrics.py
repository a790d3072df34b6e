"""Forecast errors in price units, always next to the persistence baseline on the same targets."""

from __future__ import annotations

import numpy as np

from stockrnn.evaluation.significance import significance


def error_metrics(actual: np.ndarray, predicted: np.ndarray, last_known: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, MAPE (%) and direction accuracy of `predicted` against `actual`.

    actual, predicted: windows x horizon; last_known: the target on the day before each window's
    first target. Direction accuracy is the share of forecasts whose move away from last_known
    has the sign of the real move.
    """
    error = predicted - actual
    last = last_known[:, None]
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "mape": float(100 * np.mean(np.abs(error) / np.abs(actual))),
        "direction_acc": float(np.mean(np.sign(predicted - last) == np.sign(actual - last))),
    }


def skill(rmse: float, baseline_rmse: float) -> float:
    """1 - rmse / baseline: above 0 beats the baseline, 1 is perfect."""
    return float(1 - rmse / baseline_rmse) if baseline_rmse > 0 else float("nan")


def persistence_forecast(last_known: np.ndarray, horizon: int) -> np.ndarray:
    """Tomorrow (and every later step) equals the last known value."""
    return np.repeat(last_known[:, None], horizon, axis=1)


def validation_report(actual: np.ndarray, predicted: np.ndarray, linear: np.ndarray,
                      last_known: np.ndarray) -> dict[str, float]:
    """RMSE on the validation windows of the model and both baselines: what a search may look at.
    A backtest's objective is val_rmse / persistence_val_rmse, fold by fold."""
    persistence = persistence_forecast(last_known, actual.shape[1])
    return {f"{prefix}val_rmse": error_metrics(actual, forecast, last_known)["rmse"]
            for prefix, forecast in (("", predicted), ("persistence_", persistence), ("linear_", linear))}


def forecast_report(actual: np.ndarray, predicted: np.ndarray, linear: np.ndarray,
                    last_known: np.ndarray) -> dict[str, float]:
    """The contract's test figures: the model, persistence and the linear baseline on the same
    targets, and the tests of whether the model is really better (see significance.py)."""
    horizon = actual.shape[1]
    persistence_all = persistence_forecast(last_known, horizon)
    model = error_metrics(actual, predicted, last_known)
    persistence = error_metrics(actual, persistence_all, last_known)
    linear_errors = error_metrics(actual, linear, last_known)
    report = {f"test_{k}": v for k, v in model.items()}
    report |= {f"persistence_{k}": v for k, v in persistence.items()}
    report |= {f"linear_{k}": v for k, v in linear_errors.items()}
    report["skill"] = skill(model["rmse"], persistence["rmse"])
    report["linear_skill"] = skill(linear_errors["rmse"], persistence["rmse"])
    report["n_test"] = int(actual.shape[0])
    report |= significance(actual, predicted, persistence_all, linear, last_known)
    if horizon > 1:  # the overall figures above pool every step; each step on its own too
        for step in range(horizon):
            one = slice(step, step + 1)
            for prefix, forecast in (("test", predicted), ("persistence", persistence_all), ("linear", linear)):
                errors = error_metrics(actual[:, one], forecast[:, one], last_known)
                report[f"{prefix}_rmse_step{step + 1}"] = errors["rmse"]
                report[f"{prefix}_mae_step{step + 1}"] = errors["mae"]
            report[f"skill_step{step + 1}"] = skill(report[f"test_rmse_step{step + 1}"],
                                                    report[f"persistence_rmse_step{step + 1}"])
    return report
