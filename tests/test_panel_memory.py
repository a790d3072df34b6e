"""A panel holds its series once: every split's pooled windows read the DataModule's one concatenation
of the series' inputs and prices, each series' own tensors are views into it, and the pooled windows
hold a few numbers per series, nothing per window. Its forecasts are labelled and written without
copies: one name object per series, views per series, the CSV a chunk at a time."""

import numpy as np
import pandas as pd
import torch

from conftest import synthetic_prices
from stockrnn.data.datamodule import PriceDataModule
from stockrnn.evaluation.forecasts import Forecasts
from stockrnn.training.forecast_tables import series_labels


def three_series(tmp_path) -> PriceDataModule:
    frames = [synthetic_prices(seed=k).assign(Name=name) for k, name in enumerate(["AAA", "BBB", "CCC"])]
    path = tmp_path / "panel.csv"
    pd.concat(frames).to_csv(path, index=False)
    datamodule = PriceDataModule(path=str(path), series_column="Name", features=["High", "Close"],
                                 target="High", train_start="2015", train_end="2016", test_start="2017",
                                 test_end="2017", n_steps=5, horizon=2)
    datamodule.setup("fit")
    return datamodule


def storage(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def test_every_split_and_every_series_reads_one_copy_of_the_panel(tmp_path):
    datamodule = three_series(tmp_path)
    parts = list(datamodule.parts.values())
    assert len(datamodule.inputs) == sum(len(part.frame) for part in parts) == len(datamodule.target_prices)
    for part in parts:  # views into the concatenation, not copies
        assert storage(part.inputs) == storage(datamodule.inputs)
        assert storage(part.target_prices) == storage(datamodule.target_prices)
    loaders = (datamodule.train_dataloader(), datamodule.val_dataloader(), datamodule.test_dataloader())
    for pooled in [loader.dataset for loader in loaders] + [datamodule.pooled("train")]:
        assert pooled.inputs is datamodule.inputs and pooled.target_prices is datamodule.target_prices
        shared = {storage(datamodule.inputs), storage(datamodule.target_prices)}
        own = [value for value in vars(pooled).values()
               if isinstance(value, torch.Tensor) and storage(value) not in shared]
        assert own and all(tensor.numel() <= datamodule.n_series + 1 for tensor in own)  # nothing per window
        assert pooled[0][3].dtype == torch.int64  # what the series embedding looks up, as before


def test_predictions_written_a_chunk_at_a_time_are_the_table_written_at_once(tmp_path):
    """predictions.csv is written in chunks of windows (a panel's table is never whole in memory):
    the file is byte for byte the one table() gives, with several horizons, series and quantiles."""
    rng = np.random.default_rng(0)
    windows, horizon, levels = 23, 2, (0.05, 0.5, 0.95)
    dates = pd.bdate_range("2021-01-04", periods=windows + horizon).to_numpy()
    dates = np.stack([dates[k:k + windows] for k in range(horizon)], axis=1)
    actual = 100 + rng.normal(size=(windows, horizon))
    quantiles = np.sort(actual[..., None] + rng.normal(size=(windows, horizon, len(levels))), axis=-1)
    forecasts = Forecasts(dates, actual, actual + 0.1, actual - 0.1, actual[:, 0] - 0.5, quantiles=quantiles,
                          baselines={"garch": quantiles + 1}, levels=levels,
                          series=np.repeat(["AAA", "BBB"], [15, 8]).astype(object), local_linear=actual + 0.2)
    forecasts.write_csv(tmp_path / "chunked.csv", float_format="%.6f", windows_per_chunk=4)
    forecasts.table().to_csv(tmp_path / "whole.csv", index=False, float_format="%.6f")
    assert (tmp_path / "chunked.csv").read_text() == (tmp_path / "whole.csv").read_text()
    assert len(pd.read_csv(tmp_path / "chunked.csv")) == windows * horizon



def test_each_window_is_labelled_with_its_series_one_name_object_not_a_copy_per_window():
    labels = series_labels("AAPL", 1000)
    assert labels.tolist() == ["AAPL"] * 1000 and all(label is labels[0] for label in labels)
