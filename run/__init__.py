"""One run: its settings, tasks, training, checkpoints, evaluation, the
scheduler of model groups, its training-time records and the benchmark."""
