"""The command line: bad inputs end with exit status 1, a short message naming the problem, no
traceback and no metrics.json; messy but valid CSVs train. Most cases call the real Hydra entry
points in this process (same parsing, same error printing); a handful run them in a subprocess to
prove the same end to end, including a run killed with SIGKILL and resumed."""

import gzip
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from stockrnn import eval as eval_entry
from stockrnn import train as train_entry
from stockrnn.training.resume import exit_interrupted

from conftest import REPO_ROOT, run_module, synthetic_prices

QUICK = ["trainer=cpu", "trainer.max_epochs=1", "model.hidden_size=8", "callbacks.progress_bar=null",
         "+trainer.enable_progress_bar=false"]


def cli(module: str, *overrides: str, run_dir, **kwargs) -> subprocess.CompletedProcess:
    return run_module(module, f"hydra.run.dir={run_dir}", *overrides, **kwargs)


@pytest.fixture
def in_process(monkeypatch, capsys):
    """Run an entry point's Hydra main here: returns (exit status, stdout, stderr)."""
    for debug in ("HYDRA_FULL_ERROR", "STOCKRNN_DEBUG"):
        monkeypatch.delenv(debug, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(main, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["stockrnn", *argv])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        finally:  # Hydra points the root logger at this test's streams and run directory
            for handler in set(root.handlers) - set(handlers):
                handler.close()
            root.handlers[:], root.level = handlers, level
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def small_csv(tmp_path):
    """48 rows: four days a month through 2020."""
    path = tmp_path / "small.csv"
    path.write_text("Date,Open,High\n" + "".join(
        f"2020-{m:02d}-{d:02d},{m + d},{m + d + 1}\n" for m in range(1, 13) for d in (3, 10, 17, 24)))
    return path


def csv_run(path, *extra) -> list[str]:
    return ["data=csv", f"data.path={path}", "data.train_start=2020-01", "data.train_end=2020-09",
            "data.test_start=2020-10", "data.test_end=2020-12", "data.n_steps=3", *QUICK, *extra]


def assert_clean_failure(code, err, run_dir, message, before_training=True):
    """Exit 1, the message as the last line, no traceback, no metrics.json. An error found before
    training is all there is on stderr; one found during the fit follows Lightning's start-up lines."""
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("stockrnn: error: ") and message in lines[-1], err
    assert "Traceback" not in err
    if before_training:
        assert len(lines) == 1, err
    assert not (run_dir / "metrics.json").exists()


def write_file(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# The level formulation, so that every row of the file is a row of a range (data=csv's default
# target log return has none on the first day): the range messages below count the file's rows.
LEVEL = ["data.features=[High]", "data.transform=level"]
# Each: (file content or None for the small CSV, extra overrides, the message expected on stderr).
BAD_TRAIN_INPUTS = {
    "file missing": (None, ["data.path=/nonexistent/prices.csv"], "data file not found: /nonexistent/prices.csv"),
    "empty file": ("", [], "data file is empty: "),
    "binary file": (gzip.compress(b"Date,High\n"), [], "is not a CSV text file: it looks like gzip-compressed"),
    "no date column": ("Day,High\n2020-01-03,1\n", [], "no date column 'Date' (columns: Day, High)"),
    "dates that do not parse": ("Date,High\n2020-01-03,1\nsoon,2\n", [], "dates that do not parse (first: 'soon'"),
    "column not in file": (None, ["data.features=[High,Close]"], "['Close'] not found; available: Open, High"),
    "missing value": ("Date,High\n" + "".join(f"2020-{m:02d}-03,{'' if m == 5 else m}\n" for m in range(1, 13)),
                      [], "column 'High' has 1 missing values (first on 2020-05-03); set data.fill=ffill"),
    "ambiguous number": ('Date,High\n2020-01-03,"1,234"\n', [], "column 'High' writes numbers like '1,234'"),
    "text number": ("Date,High\n2020-01-03,12 USD\n", [], "column 'High' holds '12 USD' on 2020-01-03, not a number"),
    "train range too short": (None, ["data.n_steps=40", *LEVEL],
                              "the train range 2020-01..2020-09 has 36 rows; n_steps=40"),
    "test range too short": (None, ["data.horizon=20"], "the test range 2020-10..2020-12 has 12 rows; horizon=20 needs at least 20"),
    "range outside the data": (None, ["data.train_start=2015", "data.train_end=2016", *LEVEL],
                               "the train range 2015..2016 holds no rows; the data covers 2020-01-03..2020-12-24"),
    "test_start before train_end": (None, ["data.test_start=2020-06"],
                                    "data.test_start (2020-06) must come after data.train_end (2020-09)"),
    "n_steps": (None, ["data.n_steps=0"], "data.n_steps=0: expected a positive integer"),
    "horizon": (None, ["data.horizon=1.5"], "data.horizon=1.5: expected a positive integer"),
    "hidden_size": (None, ["model.hidden_size=-4"], "model.hidden_size=-4: expected a positive integer"),
    "num_layers": (None, ["model.num_layers=two"], "model.num_layers='two': expected a positive integer"),
    "batch_size": (None, ["data.batch_size=0"], "data.batch_size=0: expected a positive integer"),
    "dropout": (None, ["model.dropout=1"], "model.dropout=1: expected a number in [0.0, 1.0)"),
    "val_fraction": (None, ["data.val_fraction=1.5"], "data.val_fraction=1.5: expected a number in (0.0, 1.0)"),
    "scaler": (None, ["data.scaler=robust"], "data.scaler='robust': expected one of minmax, standard, none"),
    "fill": (None, ["data.fill=zero"], "data.fill='zero': expected one of ffill"),
    "layout": (None, ["data.layout=tall"], "data.layout='tall': expected one of long, wide"),
    "series": (None, ["data.series=[]"], "data.series=[]: expected a list of series names"),
    "bad date bound": (None, ["data.train_end=sept"], "data.train_end='sept': expected a year, month or date"),
    "resume from a missing checkpoint": (None, ["ckpt_path=/nonexistent/last.ckpt"],
                                         "checkpoint not found: /nonexistent/last.ckpt"),
}


@pytest.mark.parametrize("case", BAD_TRAIN_INPUTS)
def test_bad_train_input_exits_1_with_a_short_message(case, tmp_path, small_csv, in_process):
    content, extra, message = BAD_TRAIN_INPUTS[case]
    path = small_csv if content is None else write_file(tmp_path, "bad.csv", content)
    run_dir = tmp_path / "run"
    code, _, err = in_process(train_entry.main, f"hydra.run.dir={run_dir}", *csv_run(path, *extra))
    assert_clean_failure(code, err, run_dir, message)


@pytest.mark.parametrize("override, message", [
    ("model=transformer", "model=transformer: no such option; expected one of birnn, default, gru, lstm, rnn"),
    ("data=parquet", "data=parquet: no such option; expected one of csv, default, mastercard, nasdaq, sp500, "
                     "sp500_stocks"),
    ("model=GRU", "model=GRU: no such option; expected one of birnn, default, gru, lstm, rnn; "
                  "did you mean model=gru?"),
    ("logger=MLflow", "logger=MLflow: no such option; expected one of csv, many, mlflow, tensorboard; "
                      "did you mean logger=mlflow?"),
])
def test_an_unknown_option_is_one_line_listing_the_available_ones(override, message, tmp_path, in_process):
    run_dir = tmp_path / "run"
    code, _, err = in_process(train_entry.main, f"hydra.run.dir={run_dir}", override)
    assert err == f"stockrnn: error: {message}\n" and code == 1
    assert not run_dir.exists()


def test_an_unknown_option_in_a_sweep_is_named(tmp_path, in_process):
    code, _, err = in_process(train_entry.main, "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "model=gru,lsmt")
    assert code == 1 and err.startswith("stockrnn: error: model=lsmt: no such option") and "model=lstm?" in err
    assert not (tmp_path / "sweep").exists()


# Each: a mistyped key on the command line, and the suggestion the message must hold.
MISTYPED_KEYS = {
    "data": ("data.batchsize=16", "unknown key data.batchsize; did you mean data.batch_size?"),
    "model": ("model.hiden_size=8", "unknown key model.hiden_size; did you mean model.hidden_size?"),
    "trainer": ("trainer.max_epoch=3", "unknown key trainer.max_epoch; did you mean trainer.max_epochs?"),
    "callbacks": ("callbacks.early_stopping.patiense=3",
                  "unknown key callbacks.early_stopping.patiense; did you mean callbacks.early_stopping.patience?"),
    "a mistyped group": ("modle.hidden_size=8", "unknown key modle.hidden_size; did you mean model.hidden_size?"),
    "top level": ("sed=3", "unknown key sed; did you mean seed?"),
    "a sweep": ("data.n_stepz=5,10", "unknown key data.n_stepz; did you mean data.n_steps?"),
    "added to a model": ("+model.hiden_size=8", "+model.hiden_size=8: model is a stockrnn.models.forecaster."
                         "Forecaster, which takes no argument hiden_size; did you mean model.hidden_size?"),
    "added to the trainer": ("++trainer.max_epoch=3", "++trainer.max_epoch=3: "
                             "trainer is a lightning.pytorch.Trainer, which takes no argument max_epoch; "
                             "did you mean trainer.max_epochs?"),
    "a trainer argument not in the config": ("trainer.enable_progress_bar=false",
                                             "trainer.enable_progress_bar is not in the config, but trainer "
                                             "(lightning.pytorch.Trainer) takes it: add it with "
                                             "+trainer.enable_progress_bar=false"),
}


@pytest.mark.parametrize("case", MISTYPED_KEYS)
def test_a_mistyped_key_names_the_closest_existing_one_and_writes_nothing(case, tmp_path, in_process):
    override, message = MISTYPED_KEYS[case]
    run_dir = tmp_path / "run"
    code, _, err = in_process(train_entry.main, f"hydra.run.dir={run_dir}", "model=gru", override)
    assert err == f"stockrnn: error: {message}\n" and code == 1
    assert not run_dir.exists()


def test_keys_added_where_the_target_takes_them_or_to_a_new_node_pass_the_check(tmp_path, in_process):
    run_dir = tmp_path / "run"
    code, out, err = in_process(train_entry.main, f"hydra.run.dir={run_dir}", "+trainer.enable_progress_bar=false",
                                "+callbacks.extra._target_=lightning.pytorch.callbacks.Timer",
                                "+callbacks.extra.duration=00:01:00:00", "--cfg", "job")
    assert code == 0 and "enable_progress_bar: false" in out and "duration: 00:01:00:00" in out, err


def test_mistyped_keys_and_a_missing_ckpt_path_end_every_command_with_one_line(tmp_path):
    for module, args, message in [
        ("stockrnn.eval", [], "ckpt_path is required: the checkpoint to use, e.g. "
                              "ckpt_path=outputs/train/runs/<run>/checkpoints/best.ckpt"),
        ("stockrnn.predict", [], "ckpt_path is required: "),
        ("stockrnn.eval", ["ckpt_path=null"], "ckpt_path is required: "),
        ("stockrnn.predict", ["ckpt_path=x.ckpt", "data.paht=prices.csv"], "unknown key data.paht; did you mean data.path?"),
        ("stockrnn.eval", ["ckpt_path=x.ckpt", "data.test_strat=2020"],
         "unknown key data.test_strat; did you mean data.test_start?"),
        ("stockrnn.train", ["model.hiden_size=8"], "unknown key model.hiden_size; did you mean model.hidden_size?"),
    ]:
        run_dir = tmp_path / module
        result = cli(module, *args, run_dir=run_dir)
        assert result.returncode == 1 and result.stderr.startswith(f"stockrnn: error: {message}"), result.stderr
        assert len(result.stderr.splitlines()) == 1 and not run_dir.exists()


def test_a_debug_flag_shows_the_traceback(tmp_path, in_process, monkeypatch):
    monkeypatch.setenv("STOCKRNN_DEBUG", "1")
    code, _, err = in_process(train_entry.main, f"hydra.run.dir={tmp_path}", "data.n_steps=0")
    assert code == 1 and "Traceback" in err and "data.n_steps=0: expected a positive integer" in err


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """One epoch on 300 synthetic days (train 2015, test 2016), trained through the real CLI path."""
    base = tmp_path_factory.mktemp("trained")
    csv = base / "prices.csv"
    synthetic_prices(periods=300).to_csv(csv, index=False)
    run_dir = base / "run"
    result = cli("stockrnn.train", "data=csv", f"data.path={csv}", "data.train_start=2015", "data.train_end=2015",
                 "data.test_start=2016", "data.test_end=2016", "data.n_steps=5", *QUICK, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    return csv, run_dir / "checkpoints/last.ckpt"


def test_eval_and_resume_refuse_checkpoints_that_do_not_fit(tmp_path, trained_checkpoint, in_process):
    csv, last = trained_checkpoint
    corrupt = write_file(tmp_path, "corrupt.ckpt", last.read_bytes()[:3000])
    for n, (main, args, message) in enumerate([
        (eval_entry.main, ["ckpt_path=/nonexistent/best.ckpt"], "checkpoint not found: /nonexistent/best.ckpt"),
        (eval_entry.main, [f"ckpt_path={corrupt}"], "is not a readable stockrnn checkpoint"),
        (eval_entry.main, [f"ckpt_path={last}", "++data.features=[High,Low]"],
         "the checkpoint was trained on features ['High.log_return'] -> High, not ['High', 'Low'] -> High"),
        (train_entry.main, [f"ckpt_path={last}", "data=csv", f"data.path={csv}", "data.train_start=2015",
                            "data.train_end=2015", "data.test_start=2016", "data.test_end=2016", "data.n_steps=5",
                            *QUICK, "model.hidden_size=16"],
         "it comes from another configuration (model.hidden_size 8 there, 16 here)"),
    ]):
        run_dir = tmp_path / f"run{n}"
        code, _, err = in_process(main, f"hydra.run.dir={run_dir}", *args)
        assert_clean_failure(code, err, run_dir, message)


def test_messy_but_valid_csvs_give_the_clean_files_results(tmp_path, in_process):
    """Shuffled rows, duplicate dates, US dates, extra text columns and thousands separators read as
    the clean file; Yahoo's time-zone stamps with null rows, filled forward, read as the filled file."""
    clean = synthetic_prices(periods=300)
    clean["High"] = (clean["High"] * 50).round(2)  # above 1,000: room for thousands separators
    messy = clean.assign(Date=pd.to_datetime(clean["Date"]).dt.strftime("%m/%d/%Y"), Note="text",
                         High=clean["High"].map("{:,.2f}".format))
    messy = pd.concat([messy, messy.iloc[[10, 50]]])  # repeated rows: kept, they would change the windows
    messy = messy.sample(frac=1, random_state=0)
    yahoo = clean.assign(Date=pd.to_datetime(clean["Date"]).dt.strftime("%Y-%m-%d 00:00:00-04:00"))
    yahoo.loc[[20, 21, 90], "High"] = np.nan
    filled = clean.copy()
    filled.loc[[20, 21, 90], "High"] = np.nan
    filled["High"] = filled["High"].ffill()

    # Excel in much of Europe: semicolons, decimal commas; and lower-case headers.
    european = clean.rename(columns=str.lower)

    results = {}
    for name, frame, extra in [("clean", clean, []), ("messy", messy, []), ("filled", filled, []),
                               ("yahoo", yahoo, ["data.fill=ffill"]), ("european", european, [])]:
        frame.to_csv(tmp_path / f"{name}.csv", index=False, na_rep="null",
                     **(dict(sep=";", decimal=",") if name == "european" else {}))
        code, out, err = in_process(
            train_entry.main, f"hydra.run.dir={tmp_path / name}", "data=csv", f"data.path={tmp_path / name}.csv",
            "data.train_start=2015", "data.train_end=2015", "data.test_start=2016", "data.test_end=2016",
            "data.n_steps=5", *QUICK, *extra)
        assert code == 0, err[-2000:]
        results[name] = json.loads((tmp_path / name / "metrics.json").read_text())
        results[name].pop("train_seconds")
        if name == "messy":
            assert "dropped 2 rows with a duplicate date" in out
        if name == "yahoo":
            assert "filled 3 missing values of column 'High'" in out
        if name == "european":
            assert f"{tmp_path / name}.csv: read with separator ';' and decimal ','" in out
            assert "matched columns without regard to case: 'date' as 'Date'" in out
    assert results["european"] == results["clean"]
    assert results["messy"] == results["clean"]
    assert results["yahoo"] == results["filled"] != results["clean"]


# --- end to end, in a subprocess -------------------------------------------------------------

def test_train_and_predict_cli_finish_and_print_their_tables(tmp_path):
    run_dir = tmp_path / "a_run_directory_whose_path_is_longer_than_an_80_column_terminal_line"
    # From 2012, not the default 2000: a third of the windows, the same test.
    result = cli("stockrnn.train", "trainer=debug", "model.hidden_size=8", "data.train_start=2012", run_dir=run_dir,
                 env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "persistence" in result.stdout and "linear" in result.stdout
    assert "combined with persistence: weight " in result.stdout  # model.combination's default
    # Whole on one line, for copy and paste, however narrow the terminal.
    assert f"run directory: {run_dir}\n" in result.stdout
    # train.log is the run's record; the epochs and the ending stay off the console.
    log = (run_dir / "train.log").read_text()
    for line in ("train: 2012-01-03..", "validation: ", "test: 2017-01-03..2017-11-10, 218 rows, 218 windows",
                 "epoch 1/2: train/loss ", "epoch 2/2: ", "ran 2 epochs (trainer.max_epochs=2); best epoch ",
                 "test results:\n", "| persistence |"):
        assert line in log, line
    assert "epoch 1/2" not in result.stdout and "ran 2 epochs" not in result.stdout
    output = result.stdout + result.stderr
    assert "GPU available" in output  # Lightning's notices stay; its advertisement and a
    assert "litlogger" not in output and "LeafSpec" not in output  # deprecation inside it go
    for name in ("metrics.json", "predictions.csv", "predictions.png", "data_split.png",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt", ".hydra/config.yaml"):
        assert (run_dir / name).is_file(), name

    predicted = cli("stockrnn.predict", f"ckpt_path={run_dir / 'checkpoints/best.ckpt'}",
                    run_dir=run_dir / "predict", env={"COLUMNS": "80"})
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert "Forecast of High" in predicted.stdout
    assert f"written to {run_dir / 'predict' / 'forecast.csv'}\n" in predicted.stdout
    forecast = (run_dir / "predict" / "forecast.csv").read_text().splitlines()
    assert forecast[0] == "date,step,forecast" and forecast[1].startswith("2017-11-13,1,")  # the Monday after


def test_a_bad_csv_ends_the_cli_with_one_line(tmp_path):
    binary = write_file(tmp_path, "prices.csv", bytes(range(256)) * 8)
    run_dir = tmp_path / "run"
    result = cli("stockrnn.train", *csv_run(binary), run_dir=run_dir)
    assert result.stderr.strip() == (f"stockrnn: error: {binary} is not a CSV text file: it looks like binary "
                                     "data; expected comma-separated text with a header row")
    assert_clean_failure(result.returncode, result.stderr, run_dir, "not a CSV text file")


def test_a_diverging_loss_ends_the_cli_with_a_clear_message(tmp_path):
    frame = synthetic_prices(periods=300)
    frame["High"] *= 1e23  # unscaled at level, its squared error overflows float32
    csv = tmp_path / "huge.csv"
    frame.to_csv(csv, index=False)
    run_dir = tmp_path / "run"
    result = cli("stockrnn.train", "data=csv", f"data.path={csv}", "data.train_start=2015", "data.train_end=2015",
                 "data.test_start=2016", "data.test_end=2016", "data.n_steps=5", "data.scaler=none", *LEVEL,
                 *QUICK, run_dir=run_dir)  # LEVEL: a log return is scale-free, it would not diverge
    assert_clean_failure(result.returncode, result.stderr, run_dir,
                         "stockrnn: error: the training loss became inf in epoch 1; try a lower learning rate",
                         before_training=False)


def test_a_corrupt_checkpoint_ends_eval_with_one_line(tmp_path, trained_checkpoint):
    _, last = trained_checkpoint
    corrupt = write_file(tmp_path, "corrupt.ckpt", last.read_bytes()[:3000])
    result = cli("stockrnn.eval", f"ckpt_path={corrupt}", run_dir=tmp_path / "eval")
    assert_clean_failure(result.returncode, result.stderr, tmp_path / "eval",
                         f"stockrnn: error: {corrupt} is not a readable stockrnn checkpoint")


def test_a_finished_run_directory_is_refused_before_hydra_writes_into_it(tmp_path, small_csv):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra/config.yaml").write_text("the earlier run's config\n")
    (run_dir / "metrics.json").write_text('{"val_rmse": 1.0}\n')
    result = cli("stockrnn.train", *csv_run(small_csv), run_dir=run_dir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{run_dir} already holds a finished run (metrics.json); not overwriting it" in result.stderr
    assert (run_dir / ".hydra/config.yaml").read_text() == "the earlier run's config\n"
    assert sorted(p.name for p in run_dir.iterdir()) == [".hydra", "metrics.json"]


@pytest.mark.slow
def test_a_run_killed_mid_training_leaves_last_ckpt_and_resumes_from_it(tmp_path, trained_checkpoint):
    csv, _ = trained_checkpoint
    data = ["data=csv", f"data.path={csv}", "data.train_start=2015", "data.train_end=2015",
            "data.test_start=2016", "data.test_end=2016", "data.n_steps=5", "model.hidden_size=8", "trainer=cpu",
            "callbacks.progress_bar=null", "+trainer.enable_progress_bar=false", "callbacks.early_stopping=null"]
    killed = tmp_path / "killed"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "stockrnn.train", f"hydra.run.dir={killed}", *data,
                                "trainer.max_epochs=1000"], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints/last.ckpt"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not last.exists():
            time.sleep(0.2)
        time.sleep(1.0)  # a few more epochs: last.ckpt must follow the latest one
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (killed / "metrics.json").exists()
    epochs_done = torch.load(last, weights_only=True)["epoch"] + 1
    assert epochs_done >= 1

    resumed = tmp_path / "resumed"
    result = cli("stockrnn.train", *data, f"ckpt_path={last}", f"trainer.max_epochs={epochs_done + 2}",
                 run_dir=resumed)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["epochs"] == epochs_done + 2
    assert torch.load(resumed / "checkpoints/last.ckpt", weights_only=True)["epoch"] + 1 == epochs_done + 2


def interrupt_when_checkpointed(run_dir, *overrides: str) -> subprocess.CompletedProcess:
    """Start a training, send SIGINT (Ctrl-C) once its first last.ckpt is written; its result."""
    env = os.environ | {"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    for debug in ("HYDRA_FULL_ERROR", "STOCKRNN_DEBUG"):
        env.pop(debug, None)
    # A shell's background job ignores SIGINT, and the child would inherit that: restore the default.
    process = subprocess.Popen([sys.executable, "-m", "stockrnn.train", f"hydra.run.dir={run_dir}", *overrides],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None and not (run_dir / "checkpoints/last.ckpt").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, "", err)


@pytest.mark.slow
def test_ctrl_c_during_the_fit_prints_the_command_that_resumes_it(tmp_path, trained_checkpoint):
    csv, _ = trained_checkpoint
    run_dir = tmp_path / "run"
    overrides = ["data=csv", f"data.path={csv}", "data.train_start=2015", "data.train_end=2015",
                 "data.test_start=2016", "data.test_end=2016", "data.n_steps=3", "model.hidden_size=4",
                 "trainer=cpu", "callbacks.progress_bar=null", "+trainer.enable_progress_bar=false",
                 "callbacks.early_stopping.patience=3", "trainer.max_epochs=40", "torch_threads=1"]
    interrupted = interrupt_when_checkpointed(run_dir, *overrides)
    assert interrupted.returncode == 130, interrupted.stderr[-2000:]
    assert "Traceback" not in interrupted.stderr and not (run_dir / "metrics.json").exists()
    last = run_dir / "checkpoints/last.ckpt"
    epochs_done = torch.load(last, weights_only=True)["epoch"] + 1
    lines = interrupted.stderr.strip().splitlines()
    assert lines[-3] == f"stockrnn: interrupted; the run is in {run_dir}, its last checkpoint {last}"
    assert lines[-2] == "resume it with:"
    command = shlex.split(lines[-1])
    assert command == ["python", "-m", "stockrnn.train", *overrides, f"ckpt_path={last}"]

    resumed = run_module(*command[2:], cwd=tmp_path)  # as printed; its run goes under tmp_path/outputs
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    [metrics] = (tmp_path / "outputs/train/runs").glob("*/metrics.json")
    assert json.loads(metrics.read_text())["epochs"] > epochs_done


def test_ctrl_c_before_the_fit_is_one_line(tmp_path, small_csv, in_process, monkeypatch):
    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_entry, "check_config", interrupted)
    code, _, err = in_process(train_entry.main, f"hydra.run.dir={tmp_path / 'run'}", *csv_run(small_csv))
    assert (code, err) == (130, "stockrnn: error: interrupted\n")


def test_an_interrupted_run_without_a_checkpoint_prints_the_command_that_runs_it_again(tmp_path, capsys):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra/overrides.yaml").write_text("- model=gru\n- data.features=[High,Low]\n")
    with pytest.raises(SystemExit) as exit_info:
        exit_interrupted(tmp_path)
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "run it again with:", "python -m stockrnn.train model=gru 'data.features=[High,Low]'"]
