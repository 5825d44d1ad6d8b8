"""The wall-time records of `make figures` and `make reproduce`, part by part,
and the README sentences made from them."""
import os
import time

from common import fileio
import utils

# The parts of `make figures` (--mode=report), in the order the README names
# them (the report evaluates both before drawing either), and of `make
# reproduce`, in the order they run; their records hold the seconds of each.
REPORT_PARTS = ('start-up', 'paper evaluation', 'paper figures and tables', 'study evaluation',
                'study figures and tables')
REPRODUCE_PARTS = ('training', 'ceiling', 'report')
REPORT_AIM_MINUTES = 2    # the project's aim for `make figures` on a 2-core machine


class PartTimer:
  """Wall time of consecutive parts of a run, written as a record the README quotes."""

  def __init__(self, started: float):
    self.seconds, self._start = {}, started

  def part(self, name: str):
    """Ends part `name` (it began where the last one ended, or at `started`)."""
    now = time.time()
    self.seconds[name], self._start = now - self._start, now

  def write(self, path: str, workers: int, **details):
    fileio.write_json(path, {
        'seconds': self.seconds, 'total_seconds': sum(self.seconds.values()),
        'workers': workers, 'cpu_count': os.cpu_count(), 'code': utils.code_version(),
        **details})


def reproduce_text(record: dict, path: str) -> str:
  """The measured wall time of `make reproduce`, part by part."""
  parts = ', '.join(f'{what} {record["seconds"][what] / 60:.1f}' for what in REPRODUCE_PARTS)
  text = (f"`make reproduce` took {record['total_seconds'] / 60:.1f} minutes of wall time "
          f"({parts} minutes; {record['models_trained']} models trained, {record['workers']} "
          f"workers on {record['cpu_count']} cores), from `{path}`.")
  compared = record.get('checkpoints')
  if compared is None:   # records before checkpoints were compared
    return text + ' That run did not record checkpoint digests.'
  same = sum(c['identical'] for c in compared.values())
  return text + (f' {same} of {len(compared)} retrained checkpoints are identical to the shipped '
                 'ones (SHA-256 of their data, in the same file).')


def report_text(record: dict, path: str) -> str:
  """The measured wall time of the last `make figures`, part by part."""
  parts = ', '.join(f'{what} {record["seconds"][what]:.0f}' for what in REPORT_PARTS)
  return (f"`make figures` took {record['total_seconds'] / 60:.1f} minutes of wall time on its "
          f"last run ({parts} seconds; {record['workers']} workers on {record['cpu_count']} "
          f"cores, {record['num_eval_tasks']} tasks per evaluation), from `{path}`; the aim of "
          f"{REPORT_AIM_MINUTES} minutes is "
          f"{'met' if record['total_seconds'] <= 60 * REPORT_AIM_MINUTES else 'not met'}.")


def costs_text(report_record: dict, reproduce_record: dict) -> str:
  """What rerunning costs, measured: `make figures` and `make reproduce` (either may be None)."""
  lines = []
  if report_record:
    lines.append(f"`make figures` took {report_record['total_seconds'] / 60:.1f} minutes on its "
                 f"last run ({report_record['cpu_count']} cores).")
  if reproduce_record:
    lines.append(
        f"`make reproduce` took {reproduce_record['total_seconds'] / 60:.0f} minutes when last "
        f"run ({reproduce_record['models_trained']} models, of which the ceiling "
        f"{reproduce_record['seconds']['ceiling'] / 60:.1f} minutes, at commit "
        f"{str(reproduce_record['code']['git_commit'])[:7]}, before the study's latest points "
        'were added).')
  return ' '.join(lines) + ' Details: [docs/PERFORMANCE.md](docs/PERFORMANCE.md).'
