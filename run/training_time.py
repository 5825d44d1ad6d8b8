"""The training-time record each trained model's folder holds
(training_seconds.json): the scheduler writes it, the reports quote it."""
import os
from typing import List

from common import fileio

TIME_FILE = 'training_seconds.json'


def write(path: str, record: dict):
  """Writes the record of the model in folder `path`."""
  fileio.write_json(os.path.join(path, TIME_FILE), record)


def read(path: str) -> dict:
  return fileio.read_json(os.path.join(path, TIME_FILE))


def training_time_text(paths: List[str], what: str) -> str:
  """One README sentence on how long the models in `paths` took to train."""
  records = [read(path) for path in paths]
  seconds = [r['seconds'] for r in records]
  largest = max(r.get('models_in_group', 1) for r in records)
  how = ('one model per graph' if largest == 1 else
         f'up to {largest} models per graph, each counting its share of its group\'s time')
  return (f'Training {what} took {sum(seconds) / 60:.1f} minutes in all on a 2-core CPU '
          f'({min(seconds):.0f} to {max(seconds):.0f} s per model, {how}), from the '
          f'`{TIME_FILE}` files.')
