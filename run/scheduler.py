"""Which models train together, and running their groups at once: the
paper's, the study's and `make reproduce`'s models are trained here.

Models whose training graphs differ only in their seed and task family (same
network shape, objective, K, meta-batch, alpha, beta, inner steps and
iterations, and at the same step) form groups of up to GROUP_SIZE, each
trained by training.train_group in one maml.GroupedMAML graph. `workers`
groups train at once, each in its own thread with a one-thread session:
session.run releases the GIL, so two threads keep the two cores busy.
Measured on 2 cores (`make benchmark`): two workers of grouped models train
about twice the model-iterations per second of one model at a time.

Each model keeps its own folder with config.json, event files and
checkpoints holding the variable names and shapes a model trained alone
(training.train) holds, so evaluation, the report and --resume read them
unchanged. A partly trained model (an interrupted run) resumes exactly.
"""
import concurrent.futures
import dataclasses
import signal
from typing import Dict, List

from common import interrupts
from run import checkpoints
from run import settings as run_settings
from run import training
from run import training_time
import utils
from utils import CommandError

# Models per graph. Groups of up to 6 train every model to the same bits as
# training it alone (measured on 2 cores at the paper's sizes); groups of 8
# differ in the last float bits, and were no faster (benchmark).
GROUP_SIZE = 6
WORKERS = utils.WORKERS   # groups trained at once
# Seconds per model-iteration relative to the joint objective (benchmark), to
# start the longest groups first.
RELATIVE_COST = {'maml': 2.5, 'joint': 1.0}
RERUN = 'run the same command again to continue (finished models are skipped)'


def start_step(path: str) -> int:
  return checkpoints.checkpoint_step(path) if checkpoints.has_checkpoint(path) else 0


def group_key(job: run_settings.Job, start: int) -> tuple:
  """What models must share to train in one graph (start: the iteration reached)."""
  s = job.settings
  config = dataclasses.replace(run_settings.model_config(s), seed=0, test_num_updates=0)
  return (config, run_settings.objective_of(s), s.K, s.meta_batch_size, s.iterations_per_run,
          s.meta_iterations, start)


def plan(jobs: List[run_settings.Job], group_size: int = GROUP_SIZE) -> List[List[run_settings.Job]]:
  """The groups that train the unfinished jobs, costliest first."""
  by_key = {}
  for job in jobs:
    start = start_step(job.path)
    if start < job.settings.meta_iterations:
      by_key.setdefault(group_key(job, start), []).append(job)
  groups = [(key, members[i:i + group_size]) for key, members in by_key.items()
            for i in range(0, len(members), group_size)]

  def cost(key_and_group):
    (_, objective, *_, iterations, start), group = key_and_group
    return len(group) * (iterations - start) * RELATIVE_COST[objective]
  return [group for _, group in sorted(groups, key=cost, reverse=True)]


def train_models(jobs: List[run_settings.Job], print_interval: int, save_interval: int,
                 workers: int = WORKERS, group_size: int = GROUP_SIZE) -> Dict[str, dict]:
  """Trains every job not trained yet (resuming partly trained ones), scheduler.

  Writes <path>/training_seconds.json for each model trained: `seconds` is
  its share of its group's wall time (the group's seconds / its models).
  Returns {path: that record}. The first failure stops the other groups
  (they save first) and is raised.
  """
  groups = plan(jobs, group_size)
  records = {}
  if not groups:
    print(f'all {len(jobs)} models are trained already', flush=True)
    return records
  print(f'training {sum(map(len, groups))} models in {len(groups)} groups, '
        f'{min(workers, len(groups))} at a time', flush=True)
  stop = {'failed': False}     # set when a group fails: the others save and stop
  with interrupts.recording(), concurrent.futures.ThreadPoolExecutor(workers) as pool:
    futures = {pool.submit(training.train_group, [job.settings for job in group],
                           [job.path for job in group], f'[group {i}/{len(groups)}] ', stop,
                           print_interval, save_interval, workers): group
               for i, group in enumerate(groups, start=1)}
    errors, interrupted_at = [], []
    for future in concurrent.futures.as_completed(futures):
      try:
        seconds = future.result()
      except training.Interrupted as e:
        interrupted_at.append(e.step)
        continue
      except Exception as e:  # pylint: disable=broad-except; raised below, once the others stopped
        stop['failed'] = True
        errors.append(e)
        continue
      if seconds is None:
        continue
      group = futures[future]
      for job in group:    # train_group wrote each model's record
        records[job.path] = training_time.read(job.path)
    signum = interrupts.caught()
  if errors:
    raise errors[0]
  if signum:
    saved = (f"the running groups saved their models at iteration "
             f"{' and '.join(map(str, sorted(interrupted_at)))}" if interrupted_at
             else 'every model trained so far is saved')
    raise CommandError(f"{signal.Signals(signum).name}: stopped; {saved}; {RERUN}",
                       128 + signum)
  return records
