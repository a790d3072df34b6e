"""The fast path (several minibatches per Lightning step, sliced batches) trains exactly like the
straightforward one: same minibatches in the same order, same weights after training."""

import copy
import gc
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.series import PriceSeries
from stockrnn.data.windows import on_device
from stockrnn.models.forecaster import Forecaster
from stockrnn.training import callbacks
from stockrnn.training.callbacks import GcFreeze, RandomState, RunCheckpoint

from conftest import one_series


def datamodule(path, batches_per_step: int) -> tuple[PriceDataModule, PriceSeries]:
    """A one-series DataModule and its series."""
    dm = PriceDataModule(path=str(path), features=["High", "Close"], target="High", train_start=2015,
                         train_end=2016, test_start=2017, test_end=2017, n_steps=5, batch_size=8,
                         batches_per_step=batches_per_step)
    return dm, one_series(dm)


@pytest.mark.parametrize("shuffle", [True, False])
def test_fast_path_minibatches_equal_a_plain_dataloaders_in_order(prices_csv, shuffle):
    dm, series = datamodule(prices_csv, batches_per_step=16)
    dm.shuffle_train = shuffle
    torch.manual_seed(3)
    fast = [mb for chunk in dm.train_dataloader() for mb in chunk]
    torch.manual_seed(3)
    plain = list(DataLoader(TensorDataset(*series.dataset(series.splits.train).all_windows()), batch_size=8,
                            shuffle=shuffle))
    assert len(fast) == len(plain) == -(-series.splits.train.count // 8)
    for (*fast_parts, series_index), plain_parts in zip(fast, plain):
        assert (series_index == 0).all()  # a panel of one: every window is series 0's
        for fast_part, plain_part in zip(fast_parts, plain_parts, strict=True):
            torch.testing.assert_close(fast_part, plain_part, rtol=0, atol=0)


def test_validation_batches_cover_the_validation_windows_in_time_order(prices_csv):
    dm, series = datamodule(prices_csv, batches_per_step=4)
    parts = [torch.cat(part) for part in zip(*dm.val_dataloader())][:3]  # the series index aside
    for part, expected in zip(parts, series.dataset(series.splits.val).all_windows(), strict=True):
        torch.testing.assert_close(part, expected, rtol=0, atol=0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_lightning_fit_reaches_the_weights_of_a_plain_loop(prices_csv, cell):
    dm, series = datamodule(prices_csv, batches_per_step=16)
    torch.manual_seed(0)
    module = Forecaster(n_features=2, cell=cell, hidden_size=8, gradient_clip_val=0.5)
    network = copy.deepcopy(module.network)
    initial = copy.deepcopy(module.network.state_dict())

    torch.manual_seed(1)
    # No validation: every DataLoader iterator draws a seed from the global RNG, so validation
    # passes would shift the shuffles that the plain loop below reproduces.
    L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
              num_sanity_val_steps=0).fit(module, datamodule=dm)

    torch.manual_seed(1)
    loader = DataLoader(TensorDataset(*series.dataset(series.splits.train).all_windows()), batch_size=8, shuffle=True)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    for _ in range(2):
        for x, y, _ in loader:
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(network(x), y).backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 0.5)
            optimizer.step()

    trained = module.network.state_dict()
    for name, value in network.state_dict().items():
        torch.testing.assert_close(trained[name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.allclose(trained["head.weight"], initial["head.weight"])  # it did train


class GradientWatcher(L.Callback):
    def __init__(self):
        self.backwards = self.steps = 0

    def on_after_backward(self, trainer, pl_module):
        self.backwards += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.steps += 1


def fit_twice(dm, callbacks: list) -> tuple[Forecaster, L.Trainer]:
    torch.manual_seed(0)
    module = Forecaster(n_features=2, cell="gru", hidden_size=8)
    torch.manual_seed(1)
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
    trainer.fit(module, datamodule=dm)
    return module, trainer


def test_updates_skip_lightnings_per_minibatch_hooks_only_when_no_one_listens(prices_csv):
    """The direct updates (loss.backward() and the optimizer's own step) train exactly as
    Lightning's manual_backward and optimizer.step(), which a callback listening to their hooks
    still gets, once per minibatch."""
    dm, series = datamodule(prices_csv, batches_per_step=16)
    direct, direct_trainer = fit_twice(dm, [])
    watcher = GradientWatcher()
    hooked, hooked_trainer = fit_twice(dm, [watcher])
    assert direct._direct_updates() and not hooked._direct_updates()
    minibatches = 2 * -(-series.splits.train.count // 8)
    assert watcher.backwards == watcher.steps == minibatches
    assert direct_trainer.global_step == hooked_trainer.global_step == minibatches
    for (name, value), hooked_value in zip(direct.state_dict().items(), hooked.state_dict().values(), strict=True):
        assert torch.equal(value, hooked_value), name


def test_batches_on_the_device_are_handed_on_as_they_are(prices_csv):
    """The DataModule's transfer returns a batch already on the device itself (Lightning's would
    call .to() on each of its tensors); anything else it moves as Lightning does."""
    dm, _ = datamodule(prices_csv, batches_per_step=4)
    cpu = torch.device("cpu")
    for batch in (next(iter(dm.train_dataloader())), next(iter(dm.val_dataloader()))):
        assert on_device(batch, cpu) and dm.transfer_batch_to_device(batch, cpu, 0) is batch
        assert not on_device(batch, torch.device("meta"))
        moved = dm.transfer_batch_to_device(batch, torch.device("meta"), 0)
        assert all(t.device.type == "meta" for t in (moved[0] if isinstance(moved, list) else moved))
    as_dict = {"x": torch.zeros(2)}
    assert not on_device(as_dict, cpu) and dm.transfer_batch_to_device(as_dict, cpu, 0) is not as_dict


def test_a_new_bests_last_checkpoint_is_copied_byte_for_byte_as_a_save_writes_it(prices_csv, tmp_path, monkeypatch):
    """In an epoch with a new best, last.ckpt is a copy of best.ckpt (same state, same bytes)
    instead of a second dump; every file equals the one a save writes, epoch by epoch."""
    dm, _ = datamodule(prices_csv, batches_per_step=16)
    copy = callbacks._copy_atomically
    copies = []
    monkeypatch.setattr(callbacks, "_copy_atomically", lambda *paths: copies.append(paths) or copy(*paths))

    def files_written(save) -> list[tuple[int, str, bytes]]:
        files = []

        def recorded(checkpoint, trainer, filepath):
            save(checkpoint, trainer, filepath)
            files.append((trainer.current_epoch, Path(filepath).name, Path(filepath).read_bytes()))

        monkeypatch.setattr(RunCheckpoint, "_save_checkpoint", recorded)
        shutil.rmtree(tmp_path / "checkpoints", ignore_errors=True)  # the same directory: it is in the files
        L.seed_everything(0)
        checkpoint = RunCheckpoint(dirpath=tmp_path / "checkpoints", filename="best", monitor="val/rmse",
                                   save_last=True, enable_version_counter=False)
        L.Trainer(max_epochs=4, accelerator="cpu", logger=False, enable_progress_bar=False,
                  enable_model_summary=False, callbacks=[checkpoint, RandomState()]).fit(
            Forecaster(n_features=2, cell="gru", hidden_size=8), datamodule=dm)
        return files

    copied = files_written(RunCheckpoint._save_checkpoint)
    assert copies and all(Path(source).name == "best.ckpt" for source, _ in copies)
    assert files_written(ModelCheckpoint._save_checkpoint) == copied  # Lightning's: every file a save
    assert [name for _, name, _ in copied].count("last.ckpt") == 4


class FreezeCount(L.Callback):
    def __init__(self, crash: bool = False):
        self.counts, self.crash = [], crash

    def on_train_epoch_end(self, trainer, pl_module):
        self.counts.append(gc.get_freeze_count())
        if self.crash:
            raise RuntimeError("simulated crash")


def fit_with(dm, *callbacks) -> None:
    L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, callbacks=list(callbacks)).fit(Forecaster(n_features=2, hidden_size=8), datamodule=dm)


def test_the_objects_made_before_the_fit_are_out_of_the_garbage_collectors_reach_during_it(prices_csv):
    """GcFreeze: every object tracked when the fit starts is frozen while it runs (a full collection
    walks only the fit's own) and handed back when it ends, also when it fails."""
    dm, _ = datamodule(prices_csv, batches_per_step=16)
    assert gc.get_freeze_count() == 0
    during = FreezeCount()
    fit_with(dm, GcFreeze(), during)
    assert len(during.counts) == 2 and min(during.counts) > 10_000 and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit_with(dm, GcFreeze(), FreezeCount(crash=True))
    assert gc.get_freeze_count() == 0


def test_objects_frozen_by_someone_else_stay_frozen(prices_csv):
    dm, _ = datamodule(prices_csv, batches_per_step=16)
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        fit_with(dm, GcFreeze())
        assert gc.get_freeze_count() > before - 1000  # still frozen (a few were freed meanwhile)
    finally:
        gc.unfreeze()
