"""The real command line in a subprocess: a finished run, and bad inputs that end cleanly."""

import subprocess

import pytest

from conftest import run_module


def cli(module: str, *overrides: str, run_dir) -> subprocess.CompletedProcess:
    return run_module(module, f"hydra.run.dir={run_dir}", *overrides)


def test_train_and_predict_cli_finish_and_print_their_tables(tmp_path):
    result = cli("stockrnn.train", "trainer=debug", "model.hidden_size=8", run_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "persistence" in result.stdout and "linear" in result.stdout
    for name in ("metrics.json", "predictions.csv", "predictions.png", "data_split.png",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt", ".hydra/config.yaml"):
        assert (tmp_path / name).is_file(), name

    predicted = cli("stockrnn.predict", f"ckpt_path={tmp_path / 'checkpoints/best.ckpt'}",
                    run_dir=tmp_path / "predict")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert "Forecast of High" in predicted.stdout
    forecast = (tmp_path / "predict" / "forecast.csv").read_text().splitlines()
    assert forecast[0] == "date,step,forecast" and forecast[1].startswith("2017-11-13,1,")  # the Monday after


@pytest.fixture
def small_csv(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("Date,Open,High\n" + "".join(
        f"2020-{m:02d}-{d:02d},{m + d},{m + d + 1}\n" for m in range(1, 13) for d in (3, 10, 17, 24)))
    return path


@pytest.mark.parametrize("overrides, message", [
    (["data.path=/nonexistent/prices.csv"], "data file not found: /nonexistent/prices.csv"),
    (["data.features=[High,Close]"], "['Close'] not found; available: Open, High"),
    (["data.train_start=2015", "data.train_end=2016"], "the train range 2015..2016 holds no rows"),
    (["data.n_steps=40"], "the train range 2020-01..2020-09 has 36 rows; n_steps=40"),
    (["data.n_steps=0"], "data.n_steps=0: expected a positive integer"),
])
def test_bad_input_exits_nonzero_with_a_short_message_and_no_metrics(tmp_path, small_csv, overrides, message):
    run_dir = tmp_path / "run"
    result = cli("stockrnn.train", "data=csv", f"data.path={small_csv}", "data.train_start=2020-01",
                 "data.train_end=2020-09", "data.test_start=2020-10", "data.test_end=2020-12",
                 "data.n_steps=3", "trainer=debug", *overrides, run_dir=run_dir)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) <= 2
    assert not (run_dir / "metrics.json").exists()


def test_unknown_model_lists_the_available_ones(tmp_path):
    result = cli("stockrnn.train", "model=transformer", run_dir=tmp_path)
    assert result.returncode != 0
    assert "Available options in 'model'" in result.stderr and "birnn" in result.stderr


def test_eval_of_a_missing_checkpoint_is_a_clear_error(tmp_path):
    result = cli("stockrnn.eval", "ckpt_path=/nonexistent/best.ckpt", run_dir=tmp_path)
    assert result.returncode == 1 and "checkpoint not found: /nonexistent/best.ckpt" in result.stderr
    assert "Traceback" not in result.stderr
