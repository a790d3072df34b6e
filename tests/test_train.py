"""Real trainings through train(cfg): every model, the files a run leaves, eval, TensorBoard."""

import json
import logging
import math
import re
import time

import numpy as np
import pandas as pd
import pytest
import rich.live
import torch
from omegaconf import open_dict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.metadata import parse_session_start_info_plugin_data

from stockrnn.evaluation.baselines import fit_linear_baseline
from stockrnn.training.progress_bar import ProgressBar, _PromptRefreshThread
from stockrnn.errors import StockrnnError
from stockrnn.eval import evaluate_checkpoint
from stockrnn.train import train

from conftest import compose_config, one_series

CONTRACT_METRICS = {"val_rmse", "test_rmse", "test_mae", "test_mape", "test_direction_acc",
                    "persistence_rmse", "persistence_mae", "skill", "linear_rmse", "linear_mae",
                    "linear_skill", "n_test", "epochs", "train_seconds"}
# From 2012, not the default 2000: a third of the training windows. DEFAULT_DATES: QUICK without it.
DEFAULT_DATES = ["trainer=cpu", "trainer.max_epochs=2", "data.n_steps=5", "model.hidden_size=8"]
QUICK = [*DEFAULT_DATES, "data.train_start=2012"]


def run(tmp_path, overrides):
    cfg = compose_config(QUICK + overrides, tmp_path)
    metrics, objects = train(cfg)
    return cfg, metrics, objects


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru", "birnn"])
def test_every_model_trains_and_leaves_a_complete_run_directory(model, tmp_path):
    _, metrics, _ = run(tmp_path, [f"model={model}"])
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert CONTRACT_METRICS <= set(written) and written == pytest.approx(metrics, nan_ok=True)
    assert all(math.isfinite(v) for v in written.values())
    assert written["epochs"] == 2 and written["train_seconds"] > 0
    assert written["n_test"] == 218  # every trading day of 2017 in the embedded series
    assert written["skill"] == pytest.approx(1 - written["test_rmse"] / written["persistence_rmse"])
    for name in ("predictions.csv", "predictions.png", "data_split.png", "checkpoints/best.ckpt",
                 "checkpoints/last.ckpt"):
        assert (tmp_path / name).is_file(), name
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))

    table = pd.read_csv(tmp_path / "predictions.csv")
    assert list(table.columns) == ["date", "actual", "predicted", "network", "persistence", "linear"]
    assert len(table) == 218 and table["date"].is_monotonic_increasing
    assert table["date"].str.startswith("2017").all()
    rmse = ((table["predicted"] - table["actual"]) ** 2).mean() ** 0.5
    assert rmse == pytest.approx(written["test_rmse"], rel=1e-4)
    # model.combination=persistence (the default): predicted = persistence + w * (network - persistence)
    weight = written["combination_weight"]
    assert 0 <= weight <= 1
    combined = table["persistence"] + weight * (table["network"] - table["persistence"])
    assert table["predicted"].to_numpy() == pytest.approx(combined.to_numpy(), abs=1e-5)
    network_rmse = ((table["network"] - table["actual"]) ** 2).mean() ** 0.5
    assert network_rmse == pytest.approx(written["network_rmse"], rel=1e-4)
    assert table["persistence"].iloc[1:].tolist() == table["actual"].iloc[:-1].tolist()


@pytest.mark.parametrize("overrides, expected", [
    ([], "torch threads: 1 (default for a network of 457 parameters; torch_threads=N to change)"),
    (["torch_threads=2"], "torch threads: 2 (torch_threads=2)"),
])
def test_a_lone_run_logs_its_torch_threads_and_why(tmp_path, caplog, overrides, expected):
    caplog.set_level(logging.INFO, logger="stockrnn.train")
    run(tmp_path, ["trainer.max_epochs=1", *overrides])  # LSTM, hidden 8, the default's 4 inputs: 457 parameters
    assert expected in caplog.messages
    assert torch.get_num_threads() == int(expected.split()[2])


def test_eval_reproduces_the_training_runs_test_metrics(tmp_path):
    _, metrics, _ = run(tmp_path / "train", ["model=gru"])
    eval_cfg = compose_config([f"ckpt_path={tmp_path / 'train/checkpoints/best.ckpt'}"], tmp_path / "eval",
                              config_name="eval")
    evaluated = evaluate_checkpoint(eval_cfg)
    for key in ("val_rmse", "test_rmse", "test_mae", "persistence_rmse", "linear_rmse", "n_test"):
        assert evaluated[key] == pytest.approx(metrics[key], rel=1e-6), key
    assert (tmp_path / "eval/metrics.json").is_file() and (tmp_path / "eval/predictions.csv").is_file()


def test_tensorboard_holds_losses_test_metrics_hparams_and_figures(tmp_path):
    run(tmp_path, ["model=lstm"])
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "val/loss", "val/rmse", "test/rmse", "test/persistence_rmse", "test/skill",
            "test/linear_rmse", "val/linear_rmse", "hp/val_rmse", "hp/test_rmse"} <= scalars
    assert {"predictions", "data_split"} <= set(events.Tags()["images"])
    assert len(events.Images("data_split")) == 1
    # One x axis, the epoch (0-based), for every per-epoch scalar; the final ones at the last epoch.
    for name in ("train/loss", "val/loss", "val/rmse", "lr-Adam"):
        assert [event.step for event in events.Scalars(name)] == [0, 1], name
    for name in ("test/rmse", "test/skill", "val/linear_rmse", "hp/val_rmse"):
        assert [event.step for event in events.Scalars(name)] == [1], name
    assert [event.step for event in events.Images("predictions")] == [1]
    for name in ("predictions", "data_split"):  # the PNG written beside it, as it is: drawn once
        image = events.Images(name)[0]
        png = (tmp_path / f"{name}.png").read_bytes()
        assert image.encoded_image_string == png and image.width > image.height > 100
    hparams = events.PluginTagToContent("hparams")
    # Sessions only: TensorBoard builds the HParams columns from every run of a sweep (run_outputs).
    assert "_hparams_/session_start_info" in hparams and "_hparams_/experiment" not in hparams
    logged = parse_session_start_info_plugin_data(hparams["_hparams_/session_start_info"]).hparams
    assert logged["data.n_steps"].number_value == 5 and logged["model.cell"].string_value == "lstm"
    assert logged["model.hidden_size"].number_value == 8 and logged["model.optimizer.lr"].number_value == 0.001
    assert logged["seed"].number_value == 42 and logged["trainer.max_epochs"].number_value == 2
    assert logged["callbacks.early_stopping.patience"].number_value == 10
    # Run-level settings are no hyperparameters: no constant columns crowding the swept ones.
    assert not [key for key in logged if key.startswith(("callbacks.model_checkpoint", "callbacks.lr_monitor",
                                                         "callbacks.early_stopping.monitor", "paths", "hydra"))]
    assert not {"trainer.default_root_dir", "trainer.accelerator", "torch_threads", "ckpt_path",
                "task_name"} & set(logged)
    assert events.Scalars("hp/val_rmse")[0].value == pytest.approx(json.loads(
        (tmp_path / "metrics.json").read_text())["val_rmse"], rel=1e-6)


def test_the_run_log_holds_the_ranges_each_epoch_how_the_fit_ended_and_the_results(tmp_path, caplog):
    # A min_delta no epoch can beat: early stopping ends the fit after epoch 2 of 20.
    # On the default dates: the ranges a first run logs.
    with caplog.at_level(logging.INFO, logger="stockrnn.run_log"):
        metrics, _ = train(compose_config(DEFAULT_DATES + [
            "trainer.max_epochs=20", "callbacks.early_stopping.patience=1",
            "+callbacks.early_stopping.min_delta=1000"], tmp_path))
    lines = [record.getMessage() for record in caplog.records if record.name == "stockrnn.run_log"]
    assert lines[:3] == ["train: 2000-01-03..2013-08-09, 3422 rows, 3417 windows",
                         "validation: 2013-08-12..2016-12-30, 855 rows, 855 windows",  # 0.2 of 2000-2016
                         "test: 2017-01-03..2017-11-10, 218 rows, 218 windows"]
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 == metrics["epochs"]
    assert re.fullmatch(r"epoch 1/20: train/loss \S+, val/loss \S+, val/rmse \S+, lr 0.001", epochs[0])
    ending = next(line for line in lines if line.startswith("early stopping"))
    found = re.fullmatch(r"early stopping: stopped after epoch 2, val/rmse not better for 1 epoch; "
                         r"best epoch (\d) with val_rmse (\S+) \(its weights are tested\)", ending)
    assert found, ending
    best = epochs[int(found[1]) - 1]
    # The epoch's val_rmse is the network's own; metrics' val_rmse is the forecast combined with persistence.
    assert float(found[2]) == pytest.approx(metrics["network_val_rmse"], rel=1e-5) and f"val/rmse {found[2]}," in best
    table = lines[-1]
    assert table.startswith("test results:\n") and f"| model       | {metrics['test_rmse']:.4f} |" in table
    assert f"combined with persistence: weight {metrics['combination_weight']:.3f} on the network" in table


def test_the_progress_bar_shows_no_logger_version(tmp_path):
    _, _, objects = run(tmp_path, ["paths.run_name='model.hidden_size=8'", "trainer.max_epochs=1"])
    trainer = objects["trainer"]
    assert super(ProgressBar, ProgressBar()).get_metrics(trainer, objects["model"])["v_num"] == "ze=8"
    assert "v_num" not in ProgressBar().get_metrics(trainer, objects["model"])


def test_where_nothing_is_drawn_live_the_progress_bar_renders_only_its_final_state(tmp_path, monkeypatch):
    """pytest's captured output is no terminal: rich shows nothing there until the bar stops, so
    the bar renders when it starts and stops, not per epoch or per redraw of its thread."""
    renders = []
    render = rich.live.Live.refresh
    monkeypatch.setattr(rich.live.Live, "refresh", lambda live: renders.append(live) or render(live))
    cfg = compose_config(QUICK + ["trainer.max_epochs=4", "callbacks.early_stopping.patience=10"], tmp_path)
    with open_dict(cfg):  # the tests' configs leave the bar out
        cfg.callbacks.progress_bar = {"_target_": "stockrnn.training.progress_bar.ProgressBar", "refresh_rate": 10}
        cfg.trainer.enable_progress_bar = True
    metrics, objects = train(cfg)
    assert isinstance(objects["trainer"].progress_bar_callback, ProgressBar)
    assert metrics["epochs"] == 4 and len(renders) == 2


def test_the_progress_bars_refresh_thread_ends_as_soon_as_the_bar_stops():
    thread = _PromptRefreshThread(rich.live.Live(auto_refresh=False), 0.1)  # a redraw every 10 s
    thread.start()
    started = time.perf_counter()
    thread.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.perf_counter() - started < 1  # Lightning's sleeps 10 s


def test_the_linear_baselines_validation_figure_is_its_rmse_on_the_validation_windows(tmp_path):
    _, metrics, objects = run(tmp_path, ["model=gru"])
    dm = one_series(objects["datamodule"])
    linear = fit_linear_baseline(dm.dataset(dm.splits.train), dm.dataset(dm.splits.val))
    val = dm.split_targets(dm.splits.val)
    predicted = dm.to_price(linear.predict(dm.dataset(dm.splits.val)), val.last_known)
    by_hand = float(np.sqrt(np.mean((predicted - val.actual) ** 2)))
    assert metrics["linear_val_rmse"] == pytest.approx(by_hand, rel=1e-9)
    assert json.loads((tmp_path / "metrics.json").read_text())["linear_val_rmse"] == pytest.approx(by_hand)
    # In the price range of the validation windows, not of scaled targets: persistence is near it.
    persistence = float(np.sqrt(np.mean((val.last_known[:, None] - val.actual) ** 2)))
    assert 0.5 < metrics["linear_val_rmse"] / persistence < 1.5


def test_a_diverged_fit_is_an_error_and_leaves_no_metrics(tmp_path):
    with pytest.raises(StockrnnError, match="the training loss became nan in epoch 1"):
        run(tmp_path, ["model=rnn", "model.nonlinearity=relu", "model.optimizer.lr=1e30"])
    assert not (tmp_path / "metrics.json").exists()


def test_the_mastercard_persistence_baseline_over_2021(tmp_path, mastercard_csv):
    # The experiment's own dates: QUICK's data.train_start, a command-line override, would replace them.
    cfg = compose_config(DEFAULT_DATES + ["experiment=seed_mastercard", f"data.path={mastercard_csv}",
                                          "trainer.max_epochs=1"], tmp_path)
    metrics, objects = train(cfg)
    assert metrics["n_test"] == 195
    assert metrics["persistence_rmse"] == pytest.approx(5.28, abs=0.005)
    assert metrics["persistence_mae"] == pytest.approx(3.84, abs=0.005)
    dm = one_series(objects["datamodule"])
    assert dm.splits.train_rows[1] - dm.splits.train_rows[0] == 1259


def test_the_ridges_read_the_windows_as_stored_whatever_data_window_norm_gives_the_network(tmp_path):
    # A normalized window drops the price level: a ridge given it would be a weaker baseline, and the
    # network's edge over it partly ours. The linear forecasts must not move with data.window_norm.
    _, plain, _ = run(tmp_path / "none", ["data.transform=log_return"])
    _, normalized, _ = run(tmp_path / "standard", ["data.transform=log_return", "data.window_norm=standard"])
    # The network did see other inputs: its own val_rmse (the combined one can be persistence's in both).
    assert normalized["network_val_rmse"] != plain["network_val_rmse"]
    for key in ("linear_val_rmse", "linear_rmse", "linear_lags"):
        assert normalized[key] == plain[key], key
