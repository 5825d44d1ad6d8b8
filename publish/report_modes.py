"""Regenerating the README: `make figures` (report: re-evaluate every shipped
model, redraw every figure, rewrite every README section), `make reproduce`
(retrain everything, then report), and `make redraw` (figures and sections
again from the saved results files, without evaluating).

Each README section is written once, by the module whose results it shows:
paper_report.write_report the paper's, study.report the study's, and this module
the timing sections (benchmark, reproduce_time, report_time) and the
README's opening verdict and costs line (summary, costs). Each mode holds
the logdir's lock (checks.lock), and nothing is drawn before every file
it reads and the README's markers are checked (published).
"""
import dataclasses
import glob
import os
import shutil
import time
from typing import Callable, Dict, List

from common import fileio
from common import readme_sections
from paper import models as paper_models
from paper import report as paper_report
from publish import checks
from publish import timing
from run import benchmark
from run import checkpoints
from run import scheduler
from run import settings as run_settings
from study import ceiling as study_ceiling
from study import findings as study_findings
from study import points as study_points
from study import protocols as study_protocols
from study import report as study_report
import utils
from utils import CommandError

FIGURES = paper_report.FIGURES + study_report.FIGURES   # Img/<name>.png, by name
TIMING_SECTIONS = ('benchmark', 'reproduce_time', 'report_time')
SUMMARY_SECTIONS = ('summary', 'costs')
README_SECTIONS = paper_report.SECTIONS + study_report.SECTIONS + TIMING_SECTIONS + SUMMARY_SECTIONS
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
      settings, max(k for p in study_points.POINTS.values()
                    for k in study_protocols.point_ks(p)), num_eval_tasks) + (
          num_eval_tasks * steps * run_settings.num_parameters(settings)
          * run_settings.TF_FLOAT_BYTES)
  run_settings.require_memory(f'the report of {num_eval_tasks} tasks per point', need,
                              '--num_eval_tasks')


def timing_sections(logdir: str) -> Dict[str, str]:
  """The README's timing sections whose records <logdir> holds, each checked."""
  records = {'benchmark': (os.path.join(logdir, benchmark.RESULTS_FILE),
                           'make benchmark (no model flags)', benchmark.published_table),
             'reproduce_time': (os.path.join(logdir, RETRAINED_DIR, REPRODUCE_RECORD),
                                'make reproduce', timing.reproduce_text),
             'report_time': (os.path.join(logdir, REPORT_RECORD), checks.REPORT,
                             timing.report_text)}
  return {section: checks.record_text(path, rewrite, text)
          for section, (path, rewrite, text) in records.items() if os.path.exists(path)}


def summary_sections(logdir: str, paper_results: Dict[str, dict],
                     study_results: Dict[str, dict]) -> Dict[str, str]:
  """The README's opening verdict (once every point is evaluated) and its costs
  line, from the checked results and the timing records."""
  records = {name: os.path.join(logdir, *path) for name, path in (
      ('report', (REPORT_RECORD,)), ('reproduce', (RETRAINED_DIR, REPRODUCE_RECORD)))}
  records = {name: fileio.read_json(path) if os.path.exists(path) else None
             for name, path in records.items()}
  costs = timing.costs_text(records['report'], records['reproduce'])
  if len(study_results) < len(study_points.POINTS):   # the verdict reads every point
    return {'costs': costs}
  stats = study_report.point_statistics(study_results)
  return {'summary': '\n'.join([f'- {paper_report.summary(paper_results)}',
                                 f'- {study_findings.summary(stats)}', f'- **Rerunning**: {costs}']),
          'costs': costs}


def checked_inputs(logdir: str, paper_part: bool = True, study_part: bool = True):
  """(paper results, (study results, ceilings)) from the results files, every
  file checked and the whole set of one protocol (None for a part not asked)."""
  paper_results = study = None
  files = {}
  if paper_part:
    paper_results, paper_files = checks.paper_results(logdir)
    files.update(paper_files)
  if study_part:
    results, ceilings, study_files = checks.study_results(logdir)
    study = (results, ceilings)
    files.update(study_files)
  checks.check_one_protocol(files)
  return paper_results, study


def draw(logdir: str, img_dir: str, readme: str, timed: Callable[[str], None] = lambda _: None):
  """Every figure and README section from the results files, after checking
  them, the timing records and the README's markers; timed(part) ends each
  part of a report's time record. Returns the checked inputs."""
  paper_results, study = checked_inputs(logdir)
  timing = timing_sections(logdir)
  checks.check_readme(readme, README_SECTIONS)
  paper_report.write_report(paper_results, logdir, img_dir, readme)
  timed('paper figures and tables')
  study_report.report(logdir, img_dir, readme, *study)
  timed('study figures and tables')
  readme_sections.update_readme(readme, {**timing, **summary_sections(logdir, paper_results, study[0])})
  return paper_results, study


def check_before_evaluating(logdir: str, readme: str, num_eval_tasks: int, eval_seed: int):
  """What would stop a report after its evaluation, refused before it: the
  README's markers, a partly trained model, ceiling files of other tasks."""
  checks.check_readme(readme, README_SECTIONS)
  for path, target in checks.trained_models(logdir).items():
    checks.check_finished(path, target)
  odd, missing = {}, []
  for name in study_ceiling.CEILINGS:
    path = study_ceiling.ceiling_file(logdir, name, num_eval_tasks, eval_seed)
    if os.path.exists(path):
      record = checks.read_json(path, checks.CEILING, study_ceiling.CEILING_KEYS)
      if (record['of_eval_tasks'], record['eval_seed']) != (num_eval_tasks, eval_seed):
        odd[path] = record
    elif glob.glob(os.path.join(study_protocols.points_dir(logdir), name + '_ceiling*.json')):
      missing.append(path)    # the ceiling exists for another protocol only
  if missing:
    flags = f'--num_eval_tasks={num_eval_tasks} --eval_seed={eval_seed}'
    raise CommandError(f'no ceiling of this protocol ({checks.named(missing)}); write it with '
                       f'--mode=ceiling {flags} (the published files stay)')
  if odd:
    theirs = next(iter(odd.values()))
    flags = f'--num_eval_tasks={num_eval_tasks} --eval_seed={eval_seed}'
    raise CommandError(f'{checks.named(list(odd))} pair with the {theirs["of_eval_tasks"]} '
                       f'evaluation tasks of seed {theirs["eval_seed"]}, not {flags}; rewrite '
                       f'them with --mode=ceiling {flags}, or report with their numbers')


def report(logdir: str, img_dir: str, readme: str, num_eval_tasks: int, eval_seed: int,
           workers: int, started: float):
  """Re-evaluates the paper's models and the study's points, then redraws and
  rewrites every figure and README section from the results files; the wall
  time of each part since `started` goes to <logdir>/REPORT_RECORD and the
  README."""
  timer = timing.PartTimer(started)   # timing.REPORT_PARTS
  timer.part('start-up')
  with checks.lock(logdir):    # a second report, or a redraw, stops at once
    publish(logdir, img_dir, readme, num_eval_tasks, eval_seed, workers, timer)


def publish(logdir: str, img_dir: str, readme: str, num_eval_tasks: int, eval_seed: int,
            workers: int, timer: timing.PartTimer):
  """The report, with the logdir locked: checks, evaluation, then drawing (an
  interrupted evaluation leaves the README and figures as they were)."""
  check_before_evaluating(logdir, readme, num_eval_tasks, eval_seed)
  paper_models.evaluate_all(logdir, num_eval_tasks, eval_seed, workers)
  timer.part('paper evaluation')
  study_protocols.evaluate(logdir, num_eval_tasks, eval_seed, workers=workers)
  timer.part('study evaluation')
  paper_results, study = draw(logdir, img_dir, readme, timer.part)
  timer.write(os.path.join(logdir, REPORT_RECORD), workers, num_eval_tasks=num_eval_tasks)
  readme_sections.update_readme(readme, {**timing_sections(logdir),
                               **summary_sections(logdir, paper_results, study[0])})


def reproduce_outputs(logdir: str, img_dir: str = None, readme: str = None):
  """(img_dir, readme) of reproduce: beside its retrained checkpoints unless
  given, so the shipped ones stay; the README starts as a copy of this one."""
  img_dir = img_dir or os.path.join(logdir, 'Img')
  readme = readme or os.path.join(logdir, 'README.md')
  if not os.path.exists(readme):
    checkpoints.make_experiment_dir(os.path.dirname(readme) or '.')
    shutil.copy(os.path.join(utils.ROOT, 'README.md'), readme)
  for doc in readme_sections.LINKED_DOCS:   # they hold some of the README's sections
    copy = os.path.join(os.path.dirname(readme), doc)
    if not os.path.exists(copy):
      os.makedirs(os.path.dirname(copy), exist_ok=True)
      shutil.copy(os.path.join(utils.ROOT, doc), copy)
  return img_dir, readme


def reproduce(logdir: str, img_dir: str, readme: str, num_eval_tasks: int, eval_seed: int,
              print_interval: int, save_interval: int, workers: int):
  """Trains every model of the paper and the study (grouped), fits the ceiling,
  then reports, all with the logdir locked; the wall time of each part goes
  to <logdir>/REPRODUCE_RECORD. img_dir, readme: None for reproduce_outputs'
  defaults."""
  checkpoints.make_experiment_dir(logdir)
  img_dir, readme = reproduce_outputs(logdir, img_dir, readme)
  timer = timing.PartTimer(time.time())    # timing.REPRODUCE_PARTS, in that order
  with checks.lock(logdir):
    jobs = paper_models.training_jobs(logdir) + study_points.training_jobs(list(study_points.POINTS), logdir)
    trained = scheduler.train_models(jobs, print_interval, save_interval, workers)
    timer.part('training')
    compared = compare_with_shipped(logdir, [job.path for job in jobs])
    study_ceiling.write_ceilings(logdir, num_eval_tasks, eval_seed, workers=workers)
    timer.part('ceiling')
    report_timer = timing.PartTimer(time.time())
    report_timer.part('start-up')
    publish(logdir, img_dir, readme, num_eval_tasks, eval_seed, workers, report_timer)
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


def ceiling(logdir: str, num_eval_tasks: int, eval_seed: int, workers: int):
  """`make ceiling`: the ceiling files, with the logdir locked."""
  checkpoints.make_experiment_dir(logdir)
  with checks.lock(logdir):
    study_ceiling.write_ceilings(logdir, num_eval_tasks, eval_seed, workers=workers)


def redraw(logdir: str, img_dir: str, readme: str):
  """Every figure and README section again from the results files the last
  report wrote, without evaluating."""
  with checks.lock(logdir):
    draw(logdir, img_dir, readme)


def redraw_figures(names: List[str], logdir: str, img_dir: str):
  """Draws only the named figures into `img_dir` from the saved results."""
  with checks.lock(logdir):
    paper_results, study = checked_inputs(logdir, bool(set(names) & set(paper_report.FIGURES)),
                                          bool(set(names) & set(study_report.FIGURES)))
    available = {}
    if paper_results:
      available.update(paper_report.figures(paper_results, logdir))
    if study:
      available.update(study_report.figures(logdir, *study))
    missing = [name for name in names if name not in available]
    if missing:
      raise CommandError(f'--figure={",".join(missing)}: its results are not all in {logdir}; '
                         'run --mode=report first')
    os.makedirs(img_dir, exist_ok=True)
    for name in names:
      path = os.path.join(img_dir, name + '.png')
      available[name](path)
      print(f'wrote {path}', flush=True)
