"""A panel holds its series once: every split's pooled windows read the DataModule's one concatenation
of the series' inputs and prices, each series' own tensors are views into it, and window indices are int32."""

import pandas as pd
import torch

from conftest import synthetic_prices
from stockrnn.data.panel import PanelDataModule, make_datamodule


def three_series(tmp_path) -> PanelDataModule:
    frames = [synthetic_prices(seed=k).assign(Name=name) for k, name in enumerate(["AAA", "BBB", "CCC"])]
    path = tmp_path / "panel.csv"
    pd.concat(frames).to_csv(path, index=False)
    datamodule = make_datamodule(path=str(path), series_column="Name", features=["High", "Close"],
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
        assert {pooled.rows.dtype, pooled.position.dtype, pooled.series_index.dtype} == {torch.int32}
        assert pooled[0][3].dtype == torch.int64  # what the series embedding looks up, as before
