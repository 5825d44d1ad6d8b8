"""The training-time record each trained model's folder holds
(training_seconds.json): the scheduler writes it, the reports quote it."""
import os
from typing import List

from common import fileio

TIME_FILE = 'training_seconds.json'


def add_session(path: str, start: int, end: int, seconds: float, models_in_group: int,
                workers: int, load_average: List[float]):
  """Adds one training session (iterations start..end, its share `seconds` of
  its group's time) to the record of the model in folder `path`, so an
  interrupted and resumed training counts every session. load_average: the
  1-minute load at its start and end (above `workers`: other work shared the
  cores)."""
  session = {'start': start, 'end': end, 'seconds': seconds,
             'models_in_group': models_in_group, 'workers': workers,
             'load_average': load_average}
  sessions = previous_sessions(path) if start > 0 else []
  sessions.append(session)
  fileio.write_json(os.path.join(path, TIME_FILE), {
      'seconds': sum(s['seconds'] for s in sessions),
      'models_in_group': max(s.get('models_in_group', 1) for s in sessions),
      'sessions': sessions})


def previous_sessions(path: str) -> List[dict]:
  """The sessions recorded so far (a record older than sessions is one)."""
  try:
    record = read(path)
  except (OSError, ValueError):
    return []
  return record.get('sessions', [record]) if isinstance(record, dict) else []


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
