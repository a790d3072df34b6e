"""trainer=ddp on two CPU processes: Lightning's distributed sampler splits the training windows
between the ranks, and the run still leaves one run directory with one metrics.json."""

import json
import os
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate


from conftest import compose_config, run_module, synthetic_prices

TESTS_DIR = Path(__file__).resolve().parent


class RecordWindows(L.Callback):
    """Saves, per epoch and rank, the windows each training batch held, named by their anchors
    (the last known price, unique in a random walk) and, in a panel, their series index."""

    def __init__(self, out_dir: str):
        self.out_dir, self.seen = Path(out_dir), []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        for minibatch in batch:
            anchor = minibatch[2].double()
            series = minibatch[3].double() if len(minibatch) > 3 else torch.zeros_like(anchor)
            self.seen.append(np.stack([series.numpy(), anchor.numpy()], axis=1))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        np.save(self.out_dir / f"epoch{trainer.current_epoch}_rank{trainer.global_rank}.npy",
                np.concatenate(self.seen))
        self.seen = []


def window_ids(datamodule) -> dict[tuple[float, float], int]:
    """(series index, anchor) -> the window's index among the training windows."""
    datamodule.setup("fit")
    windows = datamodule.pooled("train")  # every series' training windows (one series: a panel of one)
    batch = windows.all_windows()
    series = batch[3]
    ids = {(float(s), float(a)): i for i, (s, a) in enumerate(zip(series.double(), batch[2].double()))}
    assert len(ids) == len(windows)  # every window has its own name
    return ids


def ranks_of_an_epoch(record_dir: Path, epoch: int, ids: dict) -> list[list[int]]:
    return [[ids[tuple(row)] for row in np.load(record_dir / f"epoch{epoch}_rank{rank}.npy")]
            for rank in (0, 1)]


def run_ddp_recording(tmp_path: Path, data: list[str]) -> tuple[Path, Path, str]:
    """`python -m stockrnn.train trainer=ddp` on 2 CPU processes with RecordWindows added."""
    record_dir, run_dir = tmp_path / "seen", tmp_path / "run"
    record_dir.mkdir()
    result = run_module(
        "stockrnn.train", f"hydra.run.dir={run_dir}", "trainer=ddp", "trainer.accelerator=cpu",
        "trainer.devices=2", "trainer.max_epochs=2", "model.hidden_size=8", "torch_threads=1",
        "data.batch_size=16", "data.batches_per_step=4",
        f"+callbacks.record_windows._target_={__name__}.RecordWindows",
        f"+callbacks.record_windows.out_dir={record_dir}", *data,
        # this module, for the callback, in the run and in the processes ddp_spawn starts
        env={"PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent / "src"), str(TESTS_DIR)])})
    assert result.returncode == 0, result.stderr[-3000:]
    return record_dir, run_dir, result.stdout + result.stderr


def check_halves(record_dir: Path, ids: dict) -> None:
    n = len(ids)
    for epoch in (0, 1):
        rank0, rank1 = ranks_of_an_epoch(record_dir, epoch, ids)
        # DistributedSampler pads the shorter rank with a window from the start of its order.
        assert len(rank0) == len(rank1) == (n + 1) // 2
        assert len(set(rank0)) == len(rank0) and len(set(rank1)) == len(rank1)
        assert len(set(rank0) & set(rank1)) == n % 2
        assert set(rank0) | set(rank1) == set(range(n))
    # shuffled anew each epoch (the sampler's set_epoch), not the same halves twice
    assert ranks_of_an_epoch(record_dir, 0, ids)[0] != ranks_of_an_epoch(record_dir, 1, ids)[0]


def check_one_run(run_dir: Path, output: str) -> None:
    assert [p.name for p in run_dir.parent.iterdir() if p.is_dir() and p.name != "seen"] == ["run"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["train_seconds"] > 0 and np.isfinite(metrics["test_rmse"])
    assert "distributed_backend=gloo" in output and "MEMBER: 2/2" in output
    assert output.count("run directory:") == 1  # the results are printed, and written, once


def one_series(tmp_path: Path, prices_csv: Path) -> list[str]:
    return ["data=csv", f"data.path={prices_csv}"]


def panel(tmp_path: Path, prices_csv: Path) -> list[str]:
    """Three series of a long CSV, each its own random walk over the same 600 business days."""
    path = tmp_path / "panel.csv"
    frames = [synthetic_prices(seed=seed).assign(Ticker=name) for seed, name in enumerate(["AAA", "BBB", "CCC"])]
    pd.concat(frames).to_csv(path, index=False)
    return ["data=csv", f"data.path={path}", "data.series_column=Ticker"]


@pytest.mark.slow
@pytest.mark.parametrize("source", [one_series, panel])
def test_ddp_on_two_cpu_processes_gives_each_rank_a_disjoint_half_of_the_windows(tmp_path, prices_csv, source):
    data = [*source(tmp_path, prices_csv), "data.train_start=2015", "data.train_end=2016",
            "data.test_start=2017", "data.test_end=2017", "data.n_steps=5"]
    record_dir, run_dir, output = run_ddp_recording(tmp_path, data)
    datamodule = instantiate(compose_config(data, tmp_path / "compose").data)
    check_halves(record_dir, window_ids(datamodule))
    check_one_run(run_dir, output)
