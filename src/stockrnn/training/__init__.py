"""What a fit needs beyond the model: callbacks, checkpoints, resuming, weight averaging, backtest folds."""
