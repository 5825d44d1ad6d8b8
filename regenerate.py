"""Regenerating the README: `make figures` (report: re-evaluate every shipped
model, redraw every figure, rewrite every README section), `make reproduce`
(retrain everything, then report), and `make redraw` (figures and sections
again from the saved results files, without evaluating).

Each README section is written once, by the module whose results it shows:
paper.write_report the paper's, study.report the study's, and this module
the timing sections (benchmark, reproduce_time, report_time).
"""
import dataclasses
import json
import os
import shutil
import time
from typing import Dict, List

import benchmark
import checkpoints
import grouped
import paper
import run_settings
import utils
from utils import CommandError
from study import ceiling as study_ceiling
from study import findings as study_findings
from study import points as study_points
from study import protocols as study_protocols
from study import report as study_report

FIGURES = paper.FIGURES + study_report.FIGURES   # Img/<name>.png, by name
# Every report times itself into <logdir>/REPORT_RECORD; the README quotes it.
REPORT_RECORD = 'report_time.json'
# `make reproduce` retrains into <logdir>/retrained and times itself there; the
# report of <logdir> quotes that record.
RETRAINED_DIR = 'retrained'
REPRODUCE_RECORD = 'reproduce.json'


def check_report_memory(num_eval_tasks: int):
  """The study evaluates all tasks of a point at once: refuse a task count it cannot hold."""
  steps = study_protocols.FINAL_STEP
  settings = dataclasses.replace(run_settings.Settings(), test_num_updates=steps)
  regions = len(study_protocols.MEASURED)     # grids predicted per task
  need = regions * run_settings.evaluation_bytes(
      settings, max(study_protocols.EVAL_KS), num_eval_tasks) + (
          num_eval_tasks * steps * run_settings.num_parameters(settings)
          * run_settings.TF_FLOAT_BYTES)
  run_settings.require_memory(f'the report of {num_eval_tasks} tasks per point', need,
                              '--num_eval_tasks')


def timing_sections(logdir: str) -> Dict[str, str]:
  """The README's timing sections whose records <logdir> holds."""
  records = {'benchmark': (os.path.join(logdir, benchmark.RESULTS_FILE),
                           lambda record, _: benchmark.benchmark_table(record)),
             'reproduce_time': (os.path.join(logdir, RETRAINED_DIR, REPRODUCE_RECORD),
                                benchmark.reproduce_text),
             'report_time': (os.path.join(logdir, REPORT_RECORD), benchmark.report_text)}
  return {section: text(utils.read_json(record), record)
          for section, (record, text) in records.items() if os.path.exists(record)}


def summary_sections(logdir: str) -> Dict[str, str]:
  """The README's opening verdict and its costs line, from every results file."""
  records = {name: os.path.join(logdir, *path) for name, path in (
      ('report', (REPORT_RECORD,)), ('reproduce', (RETRAINED_DIR, REPRODUCE_RECORD)))}
  records = {name: utils.read_json(path) if os.path.exists(path) else None
             for name, path in records.items()}
  costs = benchmark.costs_text(records['report'], records['reproduce'])
  results = study_report.read_point_files(logdir, study_points.POINTS)
  if len(results) < len(study_points.POINTS):   # the verdict reads every point
    return {'costs': costs}
  stats = study_report.point_statistics(results)
  return {'summary': '\n'.join([f'- {paper.summary(paper.saved_results(logdir))}',
                                 f'- {study_findings.summary(stats)}', f'- **Rerunning**: {costs}']),
          'costs': costs}


def warn_if_mixed(results: List[dict]):
  """Says so when the result files behind one report come from different code
  versions, evaluation seeds or task counts."""
  kinds = {(json.dumps(r.get('code'), sort_keys=True), r.get('eval_seed'), r.get('num_tasks'))
           for r in results}
  if len(kinds) > 1:
    print(f'warning: these results come from {len(kinds)} different (code version, eval seed, '
          'number of tasks) combinations; rerun --mode=report to make them one', flush=True)


def report(logdir: str, img_dir: str, readme: str, num_eval_tasks: int, eval_seed: int,
           workers: int, started: float):
  """Re-evaluates the paper's models and the study's points, then redraws and
  rewrites every figure and README section from the results files; the wall
  time of each part since `started` goes to <logdir>/REPORT_RECORD and the
  README."""
  timer = benchmark.PartTimer(started)   # benchmark.REPORT_PARTS, in that order
  timer.part('start-up')
  if not os.path.isdir(logdir):
    raise CommandError(f'--logdir={logdir}: no such folder; it should hold the trained '
                       'models (logs/paper, logs/robustness)')
  with checkpoints.folder_lock(logdir, '--logdir'):   # a second report stops at once
    paper_results = paper.evaluate_all(logdir, num_eval_tasks, eval_seed, workers)
    timer.part('paper evaluation')
    paper.write_report(paper_results, logdir, img_dir, readme)
    timer.part('paper figures and tables')
    study_protocols.evaluate(logdir, num_eval_tasks, eval_seed, workers=workers)
    timer.part('study evaluation')
    study_results = study_report.report(logdir, img_dir, readme)
    timer.part('study figures and tables')
  warn_if_mixed(
      [r for by_k in paper_results.values() for r in by_k.values()]
      + list(study_results.values()))
  timer.write(os.path.join(logdir, REPORT_RECORD), workers, num_eval_tasks=num_eval_tasks)
  utils.update_readme(readme, {**timing_sections(logdir), **summary_sections(logdir)})


def reproduce_outputs(logdir: str, img_dir: str = None, readme: str = None):
  """(img_dir, readme) of reproduce: beside its retrained checkpoints unless
  given, so the shipped ones stay; the README starts as a copy of this one."""
  img_dir = img_dir or os.path.join(logdir, 'Img')
  readme = readme or os.path.join(logdir, 'README.md')
  if not os.path.exists(readme):
    checkpoints.make_experiment_dir(os.path.dirname(readme) or '.')
    shutil.copy(os.path.join(utils.ROOT, 'README.md'), readme)
  for doc in utils.LINKED_DOCS:   # they hold some of the README's sections
    copy = os.path.join(os.path.dirname(readme), doc)
    if not os.path.exists(copy):
      os.makedirs(os.path.dirname(copy), exist_ok=True)
      shutil.copy(os.path.join(utils.ROOT, doc), copy)
  return img_dir, readme


def reproduce(logdir: str, img_dir: str, readme: str, num_eval_tasks: int, eval_seed: int,
              print_interval: int, save_interval: int, workers: int):
  """Trains every model of the paper and the study (grouped), fits the ceiling,
  then reports; the wall time of each part goes to <logdir>/REPRODUCE_RECORD.
  img_dir, readme: None for reproduce_outputs' defaults."""
  img_dir, readme = reproduce_outputs(logdir, img_dir, readme)
  timer = benchmark.PartTimer(time.time())    # benchmark.REPRODUCE_PARTS, in that order
  jobs = (paper.training_jobs(logdir)
          + study_points.training_jobs(list(study_points.POINTS), logdir))
  trained = grouped.train_models(jobs, print_interval, save_interval, workers)
  timer.part('training')
  compared = compare_with_shipped(logdir, [job.path for job in jobs])
  study_ceiling.write_ceilings(logdir, num_eval_tasks, eval_seed, workers=workers)
  timer.part('ceiling')
  report(logdir, img_dir, readme, num_eval_tasks, eval_seed, workers, time.time())
  timer.part('report')
  timer.write(os.path.join(logdir, REPRODUCE_RECORD), workers, models_trained=len(trained),
              checkpoints=compared)


def compare_with_shipped(logdir: str, paths: List[str]) -> Dict[str, dict]:
  """{model folder relative to logdir: {'sha256' of its retrained checkpoint
  data, 'shipped_sha256' of the shipped one in logs/ (None if there is
  none), 'identical'}}: a checkable record that retraining reproduced them."""
  record = {}
  for path in paths:
    relative = os.path.relpath(path, logdir)
    shipped = os.path.join(utils.ROOT, 'logs', relative)
    ours = checkpoints.checkpoint_source(path)['sha256']
    theirs = (checkpoints.checkpoint_source(shipped)['sha256']
              if checkpoints.has_checkpoint(shipped) else None)
    record[relative] = {'sha256': ours, 'shipped_sha256': theirs, 'identical': ours == theirs}
  return record


def redraw(logdir: str, img_dir: str, readme: str):
  """Every figure and README section again from the results files the last
  report wrote, without evaluating."""
  paper.write_report(paper.saved_results(logdir), logdir, img_dir, readme)
  study_report.report(logdir, img_dir, readme)
  utils.update_readme(readme, {**timing_sections(logdir), **summary_sections(logdir)})


def redraw_figures(names: List[str], logdir: str, img_dir: str):
  """Draws only the named figures into `img_dir` from the saved results."""
  available = {}
  if set(names) & set(paper.FIGURES):
    available.update(paper.figures(paper.saved_results(logdir), logdir))
  if set(names) & set(study_report.FIGURES):
    available.update(study_report.figures(logdir, *study_report.saved_results(logdir)))
  os.makedirs(img_dir, exist_ok=True)
  for name in names:
    if name not in available:
      raise CommandError(f'--figure={name}: its results are not all in {logdir}; run '
                         '--mode=report first')
    path = os.path.join(img_dir, name + '.png')
    available[name](path)
    print(f'wrote {path}', flush=True)
