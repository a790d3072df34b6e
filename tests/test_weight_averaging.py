"""callbacks=ema: the moving average of the weights is what is validated, checkpointed and tested."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from stockrnn.errors import StockrnnError
from stockrnn.eval import evaluate_checkpoint
from stockrnn.train import train
from stockrnn.training.weight_averaging import ExponentialWeightAveraging

from conftest import compose_config, one_series
from test_faults import crash_after_epoch_2, without_time

# From 2012, not the default 2000: a third of the training windows, the same averaging.
QUICK = ["trainer=cpu", "data.n_steps=5", "model.hidden_size=8", "callbacks=ema",
         "callbacks.weight_averaging.decay=0.9", "data.train_start=2012"]


def averaging_on_one_weight(decay: float):
    """The callback averaging a one-weight network; returns a function that ends a Lightning step."""
    averaging = ExponentialWeightAveraging(decay=decay)
    network = nn.Linear(1, 1, bias=False)
    averaging._average_model = AveragedModel(network, avg_fn=averaging._moving_average)

    def lightning_step_ends(global_step: int, weight: float) -> float:
        network.weight.data.fill_(weight)
        averaging.on_train_batch_end(SimpleNamespace(global_step=global_step), network, None, None, 0)
        return averaging._average_model.module.weight.item()

    return lightning_step_ends


def test_the_decay_is_per_optimizer_step_whatever_the_steps_per_update():
    lightning_step_ends = averaging_on_one_weight(decay=0.9)
    # Past the warm-up (from step 81 on, (1 + t) / (10 + t) >= 0.9), the decay is 0.9 per step.
    assert lightning_step_ends(100, 1.0) == 1.0  # the first update copies the weights
    # 16 more optimizer steps (one Lightning step of 16 minibatches): the old value keeps 0.9 ** 16
    assert lightning_step_ends(116, 0.0) == pytest.approx(0.9**16)
    assert lightning_step_ends(117, 0.0) == pytest.approx(0.9**17)  # then one step: 0.9 more


def test_the_first_steps_weights_fade_from_the_average():
    # Without the warm-up, the weights of the first 16 steps would keep 0.998 ** 784 = 0.21 of the
    # average after 50 Lightning steps of 16 (12 epochs of Mastercard): the blend that stopped
    # a run near persistence. With it, the decay of step t is (1 + t) / (10 + t) early on.
    lightning_step_ends = averaging_on_one_weight(decay=0.998)
    assert lightning_step_ends(16, 1.0) == 1.0
    for step in range(32, 16 * 51, 16):
        left = lightning_step_ends(step, 0.0)
    assert left == pytest.approx(math.prod((1 + t) / (10 + t) for t in range(17, 16 * 50 + 1)))
    assert left < 1e-6


@pytest.mark.parametrize("decay", [0, 1, 1.5])
def test_a_decay_outside_0_1_is_refused(decay):
    with pytest.raises(StockrnnError, match=rf"callbacks.weight_averaging.decay={decay}: expected a number"):
        ExponentialWeightAveraging(decay=decay)


def test_the_averaged_weights_are_the_checkpoints_and_the_tested_ones(tmp_path):
    cfg = compose_config(QUICK + ["trainer.max_epochs=3", "callbacks.early_stopping=null"], tmp_path)
    metrics, objects = train(cfg)
    module, trainer = objects["model"], objects["trainer"]
    # 3 epochs of the embedded series' training windows, batch 32: one optimizer step per minibatch
    windows = one_series(objects["datamodule"]).splits.train.count
    assert trainer.global_step == 3 * -(-windows // cfg.data.batch_size)

    last = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    averaged, trained = last["state_dict"], last["current_model_state"]
    assert set(averaged) == set(trained)
    assert any(not torch.equal(averaged[k], trained[k]) for k in averaged)  # an average, not a copy

    best = torch.load(tmp_path / "checkpoints/best.ckpt", weights_only=True)["state_dict"]
    for name, value in module.state_dict().items():  # what was tested
        assert torch.equal(value, best[name]), name
    # The validation figure early stopping and the checkpoint judged is the average's: the network's
    # own (metrics' val_rmse is the forecast combined with persistence, model.combination's default).
    assert best and metrics["network_val_rmse"] == pytest.approx(
        min(float(v) for k, v in trainer.checkpoint_callback.best_k_models.items()), rel=1e-5)
    assert metrics["val_rmse"] <= metrics["network_val_rmse"] + 1e-9
    # eval reads the same averaged weights from best.ckpt, and reproduces the run's figures.
    evaluated = evaluate_checkpoint(compose_config([f"ckpt_path={tmp_path / 'checkpoints/best.ckpt'}"],
                                                   tmp_path / "eval", config_name="eval"))
    assert evaluated["test_rmse"] == pytest.approx(metrics["test_rmse"], rel=1e-6)


def test_a_resumed_run_continues_both_the_weights_and_their_average(tmp_path):
    overrides = QUICK + ["trainer.max_epochs=4", "trainer.deterministic=true", "seed=3", "logger=csv"]
    straight, _ = train(compose_config(overrides, tmp_path / "straight"))
    last = crash_after_epoch_2(overrides, tmp_path / "killed")
    resumed, _ = train(compose_config(overrides + [f"ckpt_path={last}"], tmp_path / "resumed"))
    assert without_time(resumed) == without_time(straight)
    straight_last = torch.load(tmp_path / "straight/checkpoints/last.ckpt", weights_only=True)
    resumed_last = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", weights_only=True)
    for weights in ("state_dict", "current_model_state"):  # the average, and the weights trained on
        assert all(torch.equal(straight_last[weights][k], resumed_last[weights][k]) for k in straight_last[weights])
