"""Every option of every config group composes and instantiates; bad values are named."""

from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

from stockrnn.errors import StockrnnError
from stockrnn.models.forecaster import Forecaster
from stockrnn.utils.config import CONFIG_DIR, check_config, check_data_settings
from stockrnn.utils.entry import instantiate_all

from conftest import compose_config


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def test_the_groups_offer_what_the_contract_names():
    assert set(options("model")) >= {"rnn", "lstm", "gru", "birnn"}
    assert set(options("data")) >= {"default", "mastercard", "csv"}
    assert set(options("trainer")) >= {"default", "cpu", "gpu", "ddp", "debug"}
    assert "seed_mastercard" in options("experiment")


@pytest.mark.parametrize("model", options("model"))
def test_every_model_config_instantiates_its_cell(model, tmp_path):
    cfg = compose_config([f"model={model}"], tmp_path)
    module = instantiate(cfg.model, n_features=2, horizon=3)
    assert isinstance(module, Forecaster)
    expected = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "birnn": torch.nn.RNN,
                "default": torch.nn.LSTM}[model]
    assert type(module.network.rnn) is expected
    assert module.network.rnn.bidirectional == (model == "birnn")
    assert module(torch.randn(4, 5, 2)).shape == (4, 3)


@pytest.mark.parametrize("data", options("data"))
def test_every_data_config_instantiates(data, tmp_path, prices_csv):
    cfg = compose_config([f"data={data}", f"data.path={prices_csv}"], tmp_path)
    dm = instantiate(cfg.data)
    column = "Close" if data == "sp500_stocks" else "High"  # the panel's wide file names its prices Close
    assert dm.path == str(prices_csv) and dm.target == column
    # Scale-free by default: the target's log return first (with Open, Low and Close relative to the
    # High where the embedded series have them), the log return learnt.
    assert dm.features[0] == f"{column}.log_return" and dm.transform == "log_return"
    ratios = [] if data in ("csv", "sp500_stocks") else ["Open/High", "Low/High", "Close/High"]
    assert dm.features[1:] == ratios


def test_the_csv_config_reads_the_log_return_of_whichever_target_is_set(tmp_path):
    cfg = compose_config(["data=csv", "data.target=Close"], tmp_path)
    assert list(cfg.data.features) == ["Close.log_return"]


@pytest.mark.parametrize("trainer", options("trainer"))
def test_every_trainer_config_instantiates(trainer, tmp_path):
    if trainer == "gpu" and not torch.cuda.is_available():
        pytest.skip("no GPU on this machine")
    cfg = compose_config([f"trainer={trainer}"], tmp_path)
    assert isinstance(instantiate(cfg.trainer), L.Trainer)


@pytest.mark.parametrize("logger", options("logger"))
def test_every_logger_and_callback_config_instantiates(logger, tmp_path):
    cfg = compose_config([f"logger={logger}"], tmp_path)
    assert len(instantiate_all(cfg.logger)) == (3 if logger == "many" else 1)
    callbacks = instantiate_all(compose_config([], tmp_path).callbacks)
    for kind in (EarlyStopping, LearningRateMonitor, ModelCheckpoint):
        assert any(isinstance(cb, kind) for cb in callbacks), kind


def test_seed_mastercard_reproduces_the_tutorials_settings(tmp_path):
    cfg = compose_config(["experiment=seed_mastercard"], tmp_path)
    assert (cfg.data.n_steps, cfg.data.batch_size, cfg.data.train_start, cfg.data.test_start) == (3, 10, 2016, 2021)
    assert (cfg.model.cell, cfg.model.nonlinearity, cfg.model.hidden_size) == ("rnn", "relu", 32)
    assert cfg.data.val_fraction == 0.2 and cfg.data.scaler == "minmax"
    # The tutorial's formulation, whatever the defaults become: the High's level from the High alone.
    assert (list(cfg.data.features), cfg.data.transform, cfg.data.window_norm) == (["High"], "level", "none")
    assert cfg.model.combination == "none"


def test_eval_config_composes(tmp_path):
    cfg = compose_config(["ckpt_path=x.ckpt", "data.path=y.csv"], tmp_path, config_name="eval")
    assert cfg.ckpt_path == "x.ckpt" and cfg.data.path == "y.csv"


@pytest.mark.parametrize("override, message", [
    ("data.n_steps=0", "data.n_steps=0: expected a positive integer"),
    ("data.horizon=1.5", "data.horizon=1.5: expected a positive integer"),
    ("data.batch_size=-2", "data.batch_size=-2: expected a positive integer"),
    ("model.hidden_size=abc", "model.hidden_size='abc': expected a positive integer"),
    ("model.num_layers=0", "model.num_layers=0: expected a positive integer"),
    ("model.dropout=1.0", "model.dropout=1.0: expected a number in [0.0, 1.0)"),
    ("data.val_fraction=0", "data.val_fraction=0: expected a number in (0.0, 1.0)"),
    ("data.scaler=robust", "data.scaler='robust': expected one of minmax, standard, none"),
    ("data.window_norm=minmax", "data.window_norm='minmax': expected one of none, standard, robust, revin"),
    ("model.cell=transformer", "model.cell='transformer': expected one of rnn, lstm, gru"),
    ("model.dropout=-0.1", "model.dropout=-0.1: expected a number in [0.0, 1.0)"),
    ("data.val_fraction=1", "data.val_fraction=1: expected a number in (0.0, 1.0)"),
    ("data.n_steps=true", "data.n_steps=True: expected a positive integer"),
    ("data.fill=bfill", "data.fill='bfill': expected one of ffill"),
    ("data.sep=|", "data.sep='|': expected one of ',', ';', '\\t' (or null: detect it)"),
    ("data.decimal=x", "data.decimal='x': expected one of '.', ',' (or null: detect it)"),
    ("data.features=High", "data.features='High': expected a list of input columns, e.g. [High]"),
    ("data.features=[]", "data.features=[]: expected a list of input columns"),
    ("data.layout=tall", "data.layout='tall': expected one of long, wide"),
    ("data.series=AAPL", "data.series='AAPL': expected a list of series names, e.g. [AAPL, MSFT]"),
    ("data.series=[]", "data.series=[]: expected a list of series names"),
    ("data.series=[AAPL,'']", "data.series=['AAPL', '']: expected a list of series names"),
    ("data.series=[0050,7203]", "data.series=['0050', 7203]: expected a list of series names, e.g. "
                                "[AAPL, MSFT] (quote one that reads as a number: '[\"7203\"]'), or null"),
    ("data.series_column=''", "data.series_column='': expected the name of the column naming each row's "
                              "series"),
    ("data.train_start=abc", "data.train_start='abc': expected a year, month or date (e.g. 2016, 2016-06 or 2016-06-30)"),
    ("data.test_end=2017-13", "data.test_end='2017-13': expected a year, month or date"),
    ("data.train_start=2017", "data.train_start (2017) is after data.train_end (2016)"),
    ("data.test_start=2016", "data.test_start (2016) must come after data.train_end (2016)"),
    ("data.test_start=2016-12-31", "data.test_start (2016-12-31) must come after data.train_end (2016)"),
    ("data=csv", "data.train_end and data.test_start are needed: the last training period and the "
                 "first test period"),  # bounds left unset
    ("data.test_start=null", "data.test_start is needed"),
    ("+trainer.gradient_clip_val=1.0", "trainer.gradient_clip_val=1.0: set model.gradient_clip_val instead"),
    ("+trainer.accumulate_grad_batches=4", "trainer.accumulate_grad_batches: not supported"),
])
def test_bad_values_are_named_before_any_data_is_read(override, message, tmp_path):
    with pytest.raises(StockrnnError) as err:
        check_config(compose_config([override], tmp_path))
    assert message in str(err.value)


def test_the_data_check_passes_every_shipped_data_config(tmp_path):
    for data in options("data"):
        overrides = [f"data={data}"] + (["data.train_start=2015", "data.train_end=2016", "data.test_start=2017",
                                          "data.test_end=2017"] if data == "csv" else [])
        check_config(compose_config(overrides, tmp_path))  # raises if a shipped default were invalid


def test_an_unknown_target_transform_is_named(tmp_path):
    with pytest.raises(StockrnnError, match="data.transform='bogus': expected one of level, diff, log_return"):
        check_config(compose_config(["data.transform=bogus"], tmp_path))
    check_config(compose_config(["data.transform=diff"], tmp_path))


def test_the_check_reads_plain_settings_too():
    """eval checks the checkpoint's settings with the user's overrides: a plain dict, same messages."""
    settings = dict(n_steps=3, horizon=1, batch_size=0, val_fraction=0.2, scaler="minmax", features=["High"],
                    train_start=2016, train_end=2020, test_start=2021, test_end=2021)
    with pytest.raises(StockrnnError, match="data.batch_size=0: expected a positive integer"):
        check_data_settings(settings)
    with pytest.raises(StockrnnError, match=r"data.test_start \(2020-06\) must come after data.train_end \(2020\)"):
        check_data_settings(settings | dict(batch_size=10, test_start="2020-06"))
    with pytest.raises(StockrnnError, match=r"data.decimal=',' needs another separator than a comma \(data.sep=';'\)"):
        check_data_settings(settings | dict(batch_size=10, sep=",", decimal=","))
    check_data_settings(settings | dict(batch_size=10, sep="\t", decimal=","))
