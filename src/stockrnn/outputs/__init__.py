"""What a run leaves: its files, figures, summaries and the trackers (TensorBoard, MLflow)."""
