"""Faults: an interrupted fit resumes exactly, the same seed repeats itself, a diverged loss stops
the run with a clear message, finished runs are never overwritten, and checkpoints that do not fit
the run or the network are refused with a message instead of a traceback."""

import json
import shutil
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch

from stockrnn.training.checkpoints import check_resumable, datamodule_for, load_checkpoint, read_checkpoint
from stockrnn.errors import StockrnnError, TrainingDiverged
from stockrnn.eval import evaluate_checkpoint
from stockrnn.train import train

from conftest import compose_config, synthetic_prices

QUICK = ["trainer=cpu", "data.n_steps=5", "model.hidden_size=8", "logger=csv"]
# The level formulation of one price column (the defaults are the log return and intraday ratios):
# prices that overflow, scalers fit on the level's range, checkpoints whose settings the messages name.
LEVEL = ["data.features=[High]", "data.transform=level"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Overrides of a 2-epoch run on 300 synthetic business days: train 2015, test 2016 (Jan-Feb)."""
    csv = tmp_path_factory.mktemp("data") / "prices.csv"
    synthetic_prices(periods=300).to_csv(csv, index=False)
    return QUICK + ["data=csv", f"data.path={csv}", "data.train_start=2015", "data.train_end=2015",
                    "data.test_start=2016", "data.test_end=2016", "trainer.max_epochs=2"]


class CrashAtEpoch(L.Callback):
    """Stands in for a killed process: the fit dies as epoch `epoch` (0-based) starts."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def crash_after_epoch_2(overrides: list[str], run_dir) -> Path:
    """Train until a simulated crash at the start of epoch 3; returns the run's last.ckpt."""
    crash = ["+callbacks.crash._target_=test_faults.CrashAtEpoch", "+callbacks.crash.epoch=2"]
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(compose_config(overrides + crash, run_dir))
    return run_dir / "checkpoints" / "last.ckpt"


def without_time(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "train_seconds"}


@pytest.mark.slow
def test_a_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    # lr 0.1, seed 3 on the embedded MSFT series: val_rmse is lowest in epoch 2 and higher in
    # epochs 3 and 4, so the best checkpoint must survive the resume; the train loader shuffles,
    # so the random state must too. Either one lost changes the metrics below. That history is the
    # level formulation's on 2012-2016 (LEVEL, data.train_start: not the defaults).
    overrides = QUICK + LEVEL + ["data.train_start=2012", "trainer.deterministic=true", "seed=3",
                                 "model.optimizer.lr=0.1", "trainer.max_epochs=4"]
    straight, _ = train(compose_config(overrides, tmp_path / "straight"))

    crash_after_epoch_2(overrides, tmp_path / "killed")
    killed = tmp_path / "killed"
    assert not (killed / "metrics.json").exists()
    last = read_checkpoint(killed / "checkpoints/last.ckpt")
    assert last["epoch"] == 1  # two epochs done
    before = {p.name: p.read_bytes() for p in (killed / "checkpoints").iterdir()}

    resumed, _ = train(compose_config(overrides + [f"ckpt_path={killed / 'checkpoints/last.ckpt'}"],
                                      tmp_path / "resumed"))
    assert without_time(resumed) == without_time(straight)
    assert resumed["epochs"] == 4
    # The fit time counts both parts; the killed run's files are untouched, its best.ckpt copied.
    killed_seconds = sum(read_checkpoint(killed / "checkpoints/last.ckpt")["callbacks"]["FitTimer"]["epoch_seconds"])
    assert resumed["train_seconds"] > killed_seconds > 0
    assert {p.name: p.read_bytes() for p in (killed / "checkpoints").iterdir()} == before
    straight_best = torch.load(tmp_path / "straight/checkpoints/best.ckpt", weights_only=True)
    resumed_best = torch.load(tmp_path / "resumed/checkpoints/best.ckpt", weights_only=True)
    assert resumed_best["epoch"] == straight_best["epoch"] == 1
    # The metrics come from epoch 2's weights; epochs 3 and 4 must match too, weight for weight.
    straight_last = torch.load(tmp_path / "straight/checkpoints/last.ckpt", weights_only=True)
    resumed_last = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", weights_only=True)
    assert straight_last["epoch"] == resumed_last["epoch"] == 3  # last.ckpt is the last epoch, not the best
    straight_last, resumed_last = straight_last["state_dict"], resumed_last["state_dict"]
    assert all(torch.equal(straight_last[name], resumed_last[name]) for name in straight_last)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "resumed/predictions.csv"),
                                  pd.read_csv(tmp_path / "straight/predictions.csv"))


def test_the_same_seed_gives_identical_metrics_twice(tmp_path, small_run):
    overrides = small_run
    first, _ = train(compose_config(overrides + ["seed=7"], tmp_path / "a"))
    second, _ = train(compose_config(overrides + ["seed=7"], tmp_path / "b"))
    other, _ = train(compose_config(overrides + ["seed=8"], tmp_path / "c"))
    assert without_time(first) == without_time(second)
    assert (tmp_path / "a/predictions.csv").read_bytes() == (tmp_path / "b/predictions.csv").read_bytes()
    assert other["test_rmse"] != first["test_rmse"]  # the seed is what makes them equal


def test_a_diverging_loss_stops_the_run_naming_the_epoch_and_the_remedies(tmp_path):
    # Prices near 1e25 at level without scaling: the squared error overflows float32 in the first
    # batch (a log return is scale-free: it would not).
    frame = synthetic_prices(periods=300)
    frame["High"] *= 1e23
    csv = tmp_path / "huge.csv"
    frame.to_csv(csv, index=False)
    cfg = compose_config(QUICK + ["data=csv", f"data.path={csv}", "data.train_start=2015", "data.train_end=2015",
                                  "data.test_start=2016", "data.test_end=2016", "data.scaler=none",
                                  "trainer.max_epochs=3", *LEVEL], tmp_path / "run")
    with pytest.raises(TrainingDiverged) as err:
        train(cfg)
    assert isinstance(err.value, StockrnnError)  # the CLI prints it as a one-line error
    message = str(err.value)
    assert "the training loss became inf in epoch 1" in message
    assert "lower learning rate (model.optimizer.lr, now 0.001)" in message
    assert "gradient clipping (model.gradient_clip_val, now off)" in message
    assert not (tmp_path / "run/metrics.json").exists()
    assert not (tmp_path / "run/checkpoints/last.ckpt").exists()  # stopped before saving a diverged epoch


def test_a_finished_run_directory_is_never_written_again(tmp_path, small_run):
    overrides = small_run
    (tmp_path / "metrics.json").write_text('{"val_rmse": 1.0}\n')
    with pytest.raises(StockrnnError, match="already holds a finished run \\(metrics.json\\); not overwriting it"):
        train(compose_config(overrides, tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"val_rmse": 1.0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_run):
    """One epoch trained once for every test below that only reads its last.ckpt. At level (LEVEL):
    the messages name its one feature and transform, and its minmax scaler's range changes with
    the training rows (a log return's need not)."""
    run_dir = tmp_path_factory.mktemp("first")
    overrides = small_run + LEVEL
    train(compose_config(overrides + ["trainer.max_epochs=1"], run_dir))
    return overrides, run_dir / "checkpoints/last.ckpt"


@pytest.mark.parametrize("change, message", [
    (["model.hidden_size=16"], "model.hidden_size 8 there, 16 here"),
    (["model=gru"], "model.cell 'lstm' there, 'gru' here"),
    (["data.features=[High,Low]"], "data.features ['High'] there, ['High', 'Low'] here"),
    (["data.n_steps=7"], "data.n_steps 5 there, 7 here"),
    (["data.transform=diff"], "data.transform 'level' there, 'diff' here"),
    (["data.window_norm=revin"], "data.window_norm 'none' there, 'revin' here"),
    (["data.train_start=2015-02"], "its scalers were fit on other training rows"),
])
def test_resuming_from_another_configuration_is_refused(tmp_path, trained, change, message):
    overrides, last = trained
    with pytest.raises(StockrnnError) as err:
        train(compose_config(overrides + change + [f"ckpt_path={last}"], tmp_path / "resumed"))
    assert f"cannot resume from {last}: it comes from another configuration" in str(err.value)
    assert message in str(err.value)
    assert not (tmp_path / "resumed/metrics.json").exists()


def test_a_checkpoint_from_before_data_window_norm_resumes_as_one_without_it(tmp_path, trained):
    _, last = trained
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert checkpoint["datamodule_hyper_parameters"].pop("window_norm") == "none"
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    restored = load_checkpoint(last)
    datamodule = datamodule_for(restored, {})
    datamodule.setup()
    check_resumable(old, restored.module, datamodule)  # not refused: no window_norm was none
    datamodule.hparams["window_norm"] = "standard"
    with pytest.raises(StockrnnError, match="data.window_norm 'none' there, 'standard' here"):
        check_resumable(old, restored.module, datamodule)


def test_every_difference_is_named_at_once_with_the_command_that_resumes(tmp_path, trained):
    overrides, last = trained
    run_dir = tmp_path / "old"
    (run_dir / ".hydra").mkdir(parents=True)
    shutil.copytree(last.parent, run_dir / "checkpoints")
    (run_dir / ".hydra/overrides.yaml").write_text("- model.hidden_size=8\n- trainer.max_epochs=1\n")
    last = run_dir / "checkpoints/last.ckpt"
    change = ["model=gru", "model.hidden_size=16", "model.num_layers=2", "data.n_steps=7",
              "data.features=[High,Low]"]
    with pytest.raises(StockrnnError) as err:
        train(compose_config(overrides + change + [f"ckpt_path={last}"], tmp_path / "resumed"))
    assert str(err.value) == (
        f"cannot resume from {last}: it comes from another configuration (model.cell 'lstm' there, 'gru' here; "
        "model.hidden_size 8 there, 16 here; model.num_layers 1 there, 2 here; "
        "data.features ['High'] there, ['High', 'Low'] here; data.n_steps 5 there, 7 here); resume with the "
        f"settings it was trained with (its run's overrides, {run_dir}/.hydra/overrides.yaml): "
        f"python -m stockrnn.train model.hidden_size=8 trainer.max_epochs=1 ckpt_path={last}")


@pytest.mark.slow
def test_resuming_with_another_batch_size_is_allowed_and_finishes(tmp_path, small_run):
    overrides = small_run + ["trainer.max_epochs=4"]
    last = crash_after_epoch_2(overrides, tmp_path / "crashed")
    metrics, objects = train(compose_config(overrides + ["data.batch_size=8", f"ckpt_path={last}"],
                                            tmp_path / "resumed"))
    assert metrics["epochs"] == 4 and objects["datamodule"].batch_size == 8
    assert torch.load(tmp_path / "resumed/checkpoints/last.ckpt", weights_only=True)["epoch"] + 1 == 4


def doctored(path, tmp_path, edit) -> str:
    checkpoint = torch.load(path, weights_only=True)
    edit(checkpoint)
    out = tmp_path / "doctored.ckpt"
    torch.save(checkpoint, out)
    return str(out)


@pytest.mark.parametrize("make, message", [
    (lambda last, tmp: str(tmp / "nope.ckpt"), "checkpoint not found: "),
    (lambda last, tmp: (tmp / "cut.ckpt").write_bytes(last.read_bytes()[:2000]) and str(tmp / "cut.ckpt"),
     "is not a readable stockrnn checkpoint (RuntimeError); expected a checkpoints/*.ckpt file"),
    (lambda last, tmp: torch.save({"weights": torch.zeros(3)}, tmp / "other.ckpt") or str(tmp / "other.ckpt"),
     "is not a stockrnn checkpoint: it lacks state_dict, hyper_parameters"),
    (lambda last, tmp: doctored(last, tmp, lambda c: c["hyper_parameters"].update(hidden_size=16)),
     "its weights do not fit the network it describes (5 mismatches, first: network.rnn.weight_ih_l0 has "
     "shape [32, 1], the network [64, 1])"),
    (lambda last, tmp: doctored(last, tmp, lambda c: c["state_dict"].pop("network.head.bias")),
     "its weights do not fit the network it describes (1 mismatch, first: network.head.bias is missing)"),
])
def test_eval_refuses_checkpoints_it_cannot_use(tmp_path, trained, make, message):
    _, last = trained
    path = make(last, tmp_path)
    with pytest.raises(StockrnnError) as err:
        evaluate_checkpoint(compose_config([f"ckpt_path={path}"], tmp_path / "eval", config_name="eval"))
    assert message in str(err.value)
    assert not (tmp_path / "eval/metrics.json").exists()


@pytest.mark.parametrize("override, message", [
    ("++data.features=[High,Low]", "the checkpoint was trained on features ['High'] -> High, not ['High', 'Low'] -> High"),
    ("data.batch_size=0", "data.batch_size=0: expected a positive integer"),
    ("data.test_start=2015-06", "data.test_start (2015-06) must come after data.train_end (2015)"),
])
def test_eval_overrides_that_do_not_fit_the_checkpoint_are_named(tmp_path, trained, override, message):
    _, last = trained
    with pytest.raises(StockrnnError) as err:
        evaluate_checkpoint(compose_config([f"ckpt_path={last}", override], tmp_path / "eval", config_name="eval"))
    assert message in str(err.value)


def test_eval_on_a_csv_without_the_trained_columns_lists_the_ones_it_has(tmp_path, trained):
    _, last = trained
    csv = tmp_path / "other.csv"
    synthetic_prices(periods=300).rename(columns={"High": "Peak"}).to_csv(csv, index=False)
    with pytest.raises(StockrnnError, match=r"\['High'\] not found; available: Open, Peak, Low, Close, Volume"):
        evaluate_checkpoint(compose_config([f"ckpt_path={last}", f"data.path={csv}"], tmp_path / "eval",
                                           config_name="eval"))
