"""What the README publishes, and the checks that keep it whole.

A logdir's published results are the files its report writes (each paper
model's eval_K<k> files and a baseline's chosen step sizes, each study
point's files, report_time.json), the ceiling files of `make ceiling` and
benchmark.json of `make benchmark`. Everything that writes them or draws from
them holds the logdir's one lock (`lock`). Before anything is drawn, every
file a redraw reads is checked (`paper_results`, `study_results`,
`timing_records`): whole and readable, of the protocol the report writes
(the project's model definitions and step sizes), computed from finished
models whose checkpoints are still the ones evaluated, and the whole set of
one evaluation seed, task count and code version (`check_one_protocol`). A
problem is one line naming the file and the command that rewrites it.
"""
import collections
import dataclasses
import json
import os
import zipfile
import zlib
from typing import Dict, List, Tuple

from common import fileio
from common import readme_sections
from paper import models as paper_models
from run import checkpoints
from run import evaluation
from run import settings as run_settings
from run import training_time
from study import ceiling as study_ceiling
from study import points as study_points
from study import protocols as study_protocols
import utils
from utils import CommandError

REPORT = 'make figures (--mode=report)'
CEILING = 'make ceiling (--mode=ceiling) with the report\'s --num_eval_tasks and --eval_seed'
TRAINING = 'make reproduce (it retrains the models) or git checkout'
FINISH = 'finish its training first (make study and make reproduce continue partly trained models)'
# The protocol fields of a results file that must agree across a report's set.
Protocol = Dict[str, object]


def lock(logdir: str):
  """The lock of a logdir's published results: a second report, redraw,
  ceiling or benchmark write of the same logdir stops at once."""
  if not os.path.isdir(logdir):
    raise CommandError(f'--logdir={logdir}: no such folder; it should hold the trained '
                       'models (logs/paper, logs/robustness)')
  return checkpoints.folder_lock(logdir, '--logdir')


def named(paths: List[str]) -> str:
  more = len(paths) - checkpoints.FILES_NAMED
  return ', '.join(paths[:checkpoints.FILES_NAMED]) + (f' (and {more} more)' if more > 0 else '')


def broken(path: str, why: str, rewrite: str) -> CommandError:
  return CommandError(f'{path} {why}; rewrite it with {rewrite}')


# ------------------------------------------------------------ single files --

def read_json(path: str, rewrite: str, keys=()) -> dict:
  """The JSON object in `path` holding `keys`, or one line naming the file."""
  if not os.path.exists(path):
    raise broken(path, 'is missing', rewrite)
  try:
    data = fileio.read_json(path)
  except (OSError, ValueError) as e:
    raise broken(path, f'is unreadable ({type(e).__name__}: {utils.first_line(e)})', rewrite)
  missing = [key for key in keys if not isinstance(data, dict) or key not in data]
  if missing:
    raise broken(path, f'is incomplete (no {", ".join(missing)})', rewrite)
  return data


def check_table(path: str, rewrite: str, columns: List[str], rows: int):
  """A CSV of `rows` rows with a number in each of `columns`."""
  if not os.path.exists(path):
    raise broken(path, 'is missing', rewrite)
  try:
    table = fileio.read_csv(path)
    for row in table:
      for column in columns:
        float(row[column])
  except (OSError, ValueError, KeyError, TypeError) as e:    # a cut row reads None
    raise broken(path, f'is unreadable or cut short ({type(e).__name__}: {e})', rewrite)
  if len(table) != rows:
    raise broken(path, f'has {len(table)} rows where its JSON counts {rows} tasks', rewrite)


def check_arrays(path: str, rewrite: str, keys: List[str]):
  """An .npz (a zip of <key>.npy files) holding `keys`, every member whole.
  Read as a zip: numpy 1.16's np.load prints a traceback of its own for a
  file that is not one."""
  if not os.path.exists(path):
    raise broken(path, 'is missing', rewrite)
  try:
    with zipfile.ZipFile(path) as archive:
      damaged, names = archive.testzip(), archive.namelist()    # testzip: every CRC
  except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
    raise broken(path, f'is unreadable ({type(e).__name__}: {utils.first_line(e)})', rewrite)
  missing = [key for key in keys if key + '.npy' not in names]
  if damaged or missing:
    raise broken(path, f'is damaged ({damaged or "no " + ", ".join(missing)})', rewrite)


# ------------------------------------------------------ models and sources --

def check_finished(path: str, target: int):
  """One line unless `path` holds a checkpoint at its target iteration: a
  partly trained model is never checks."""
  if not checkpoints.has_checkpoint(path):
    raise CommandError(f'{path} holds no checkpoint: its results cannot be published; '
                       f'train it ({TRAINING})')
  step = checkpoints.checkpoint_step(path)
  if step < target:
    raise CommandError(f'{path} is trained to iteration {step} of {target}: only finished '
                       f'models are published; {FINISH}')


def trained_models(logdir: str) -> Dict[str, int]:
  """{folder: target iteration} of every paper and study model with a checkpoint."""
  jobs = (paper_models.training_jobs(logdir)
          + study_points.training_jobs(list(study_points.POINTS), logdir))
  return {job.path: job.settings.meta_iterations for job in jobs
          if checkpoints.has_checkpoint(job.path)}


def check_sources(path: str, sources: List[dict], targets: List[Tuple[str, int]],
                  current: Dict[str, dict]):
  """The results file `path` was computed from finished models whose
  checkpoints are the folders' current ones. targets: (folder, target
  iteration) per source; current: a cache of checkpoint_source by folder."""
  if len(sources) != len(targets) or not all(
      isinstance(source, dict) and {'checkpoint', 'step', 'sha256'} <= set(source)
      for source in sources):
    raise broken(path, 'does not name the checkpoints it was computed from', REPORT)
  for source, (folder, target) in zip(sources, targets):
    if folder not in current:
      check_finished(folder, target)
      current[folder] = checkpoints.checkpoint_source(folder)
    now = current[folder]
    if (source['step'], source['sha256']) != (now['step'], now['sha256']):
      raise broken(path, f"was computed from {source['checkpoint']} (sha256 "
                         f"{source['sha256']}), not from the checkpoint {folder} holds now "
                         f"({now['checkpoint']}, sha256 {now['sha256']})", REPORT)


def protocol(data: dict, tasks: str = 'num_tasks') -> Protocol:
  return {'code': json.dumps(data['code'], sort_keys=True), 'eval seed': data.get('eval_seed'),
          'tasks': data[tasks]}


# ---------------------------------------------------------------- the paper --

def paper_results(logdir: str) -> Tuple[Dict[str, Dict[int, dict]], Dict[str, Protocol]]:
  """({name: {K: eval json}}, {file: protocol}) of every model the paper
  section defines (a missing one is refused: the tables and figure 3 would
  silently drop it), every file a redraw reads checked."""
  results, files, current = {}, {}, {}
  defined_models = paper_models.models()
  missing = [os.path.join(paper_models.paper_dir(logdir), name) for name in defined_models
             if not os.path.isdir(os.path.join(paper_models.paper_dir(logdir), name))]
  if missing and len(missing) < len(defined_models):
    raise CommandError(f'{named(missing)}: missing, and the paper section needs every model it '
                       f'defines; {TRAINING}')
  for name, defined in defined_models.items():
    path = os.path.join(paper_models.paper_dir(logdir), name)
    if not os.path.isdir(path):
      continue
    results[name] = {}
    for k in paper_models.EVAL_KS:
      stem = os.path.join(path, f'eval_K{k}')
      data = read_json(stem + '.json', REPORT, evaluation.RESULT_KEYS)
      check_sources(stem + '.json', data['sources'], [(path, defined.meta_iterations)], current)
      if defined.method in paper_models.BASELINES:
        chosen = os.path.join(path, evaluation.CHOSEN_ALPHA_FILE.format(k))
        files[chosen] = protocol(read_json(chosen, REPORT, ('chosen', 'num_tasks', 'code')))
      expected = {'settings': defined.to_json(), 'K': k,
                  'alpha': evaluation.report_alpha(defined, path, k)}
      for key, value in expected.items():
        if data[key] != value:
          raise broken(stem + '.json', f'holds {key}={data[key]}, not the report\'s {value} '
                                       '(another protocol or model)', REPORT)
      lacking = evaluation.missing_steps(data, defined)
      if lacking:
        raise broken(stem + '.json', f'is incomplete (no {", ".join(lacking)})', REPORT)
      steps = range(len(data['query']))
      check_table(stem + '_tasks.csv', REPORT,
                  [f'{s}_step{n}' for s in ('query', 'grid') for n in steps], data['num_tasks'])
      files[stem + '.json'] = protocol(data)
      results[name][k] = data
    read_json(os.path.join(path, training_time.TIME_FILE), TRAINING, ('seconds',))
  if not results:
    raise CommandError(f'no evaluated paper models in {paper_models.paper_dir(logdir)}; '
                       'run --mode=report first')
  return results, files


# ---------------------------------------------------------------- the study --

def study_results(logdir: str, base: run_settings.Settings = study_points.STUDY_BASE
                  ) -> Tuple[Dict[str, dict], Dict[str, dict], Dict[str, Protocol]]:
  """(results, ceilings, {file: protocol}): every evaluated point's file and
  the ceiling points' files, every file a redraw reads checked (`base`: the
  settings the study's models derive from; tests pass a smaller one)."""
  results, files, current = {}, {}, {}
  results_dir = study_protocols.points_dir(logdir)
  columns = ([f'{r}_{p}_step{s}' for r, p, s in study_protocols.task_columns()]
             + [f'{study_protocols.FAMILY_FIT}_{p}' for p in study_protocols.MEASURED])
  for name, point in study_points.POINTS.items():
    stem = os.path.join(results_dir, name)
    if not os.path.exists(stem + '.json'):
      continue
    data = read_json(stem + '.json', REPORT, study_protocols.POINT_KEYS)
    lacking = study_protocols.missing_results(data)
    if lacking:
      raise broken(stem + '.json', f'is incomplete (no {named(lacking)})', REPORT)
    if data['point'] != fileio.jsonable(dataclasses.asdict(point)):
      raise broken(stem + '.json', 'was computed for another definition of the point', REPORT)
    models = study_points.role_models(point, logdir, base)
    sources = data['sources'] if isinstance(data['sources'], dict) else {}
    check_sources(stem + '.json', [sources.get(role) for role in models],
                  [(path, settings.meta_iterations) for settings, path in models.values()],
                  current)
    check_table(stem + '_tasks.csv', REPORT, columns, data['num_tasks'])
    if name in study_points.FIGURE_POINTS:
      check_arrays(stem + '_figure.npz', REPORT, study_protocols.figure_arrays())
    files[stem + '.json'] = protocol(data)
    results[name] = data
  if not results:
    raise CommandError(f'no robustness results in {results_dir}; evaluate first '
                       '(--mode=report)')
  ceilings = {}
  first = next(iter(results.values()))    # the points' protocol (one for all: checked below)
  for name in study_ceiling.CEILINGS:
    path = study_ceiling.ceiling_file(logdir, name, first['num_tasks'], first['eval_seed'])
    if os.path.exists(path):
      ceilings[name] = read_json(path, CEILING, study_ceiling.CEILING_KEYS)
      # Written by their own command: one code version among themselves.
      ceiling = protocol(ceilings[name], 'of_eval_tasks')
      files[path] = {**ceiling, 'code': None, 'ceiling code': ceiling['code']}
  if len(results) == len(study_points.POINTS):     # the training time sentence reads these
    for job in study_points.training_jobs(list(study_points.POINTS), logdir, base):
      read_json(os.path.join(job.path, training_time.TIME_FILE), TRAINING, ('seconds',))
  return results, ceilings, files


# ------------------------------------------------------------ the whole set --

def check_one_protocol(files: Dict[str, Protocol]):
  """One line naming the files whose code version (the ceiling files': their
  own), evaluation seed or task count is not the one most files have: a
  README drawn from them would mix evaluations."""
  for field in ('tasks', 'eval seed', 'code', 'ceiling code'):
    values = collections.Counter(p.get(field) for p in files.values())
    values.pop(None, None)
    if len(values) < 2:
      continue
    common = values.most_common(1)[0][0]
    odd = sorted(path for path, p in files.items() if p.get(field) not in (None, common))
    kind = (f'{field} {files[odd[0]][field]}' if 'code' not in field
            else 'another code version')
    rewrite = CEILING if all(path.endswith('_ceiling.json') for path in odd) else REPORT
    others = sum(values.values()) - len(odd)
    raise CommandError(f'mixed results: {named(odd)} {"has" if len(odd) == 1 else "have"} '
                       f'{kind} where the other {others} results files have '
                       f'{"one" if "code" in field else common}; rewrite them with {rewrite}')


def check_readme(readme: str, sections: List[str]):
  """One line unless `readme` (or a doc linked beside it) has one ordered pair
  of markers for every section to rewrite, before anything is drawn."""
  try:
    readme_sections.section_files(readme_sections.readme_texts(readme), sections)
  except OSError as e:
    raise CommandError(f'--readme={readme}: {e.strerror}; give the README whose sections to '
                       'rewrite')
  except ValueError as e:
    raise CommandError(f'--readme={readme} has no single ordered <!-- name --> ... '
                       f'<!-- /name --> pair for {named(e.args[0])}; start from a copy of the project\'s '
                       'README.md')


# ------------------------------------------------------------ timing records --

def record_text(path: str, rewrite: str, text) -> str:
  """text(record, path) of the timing record in `path`, or one line naming it."""
  record = read_json(path, rewrite)
  try:
    return text(record, path)
  except (KeyError, TypeError, ValueError, IndexError) as e:
    raise broken(path, f'is incomplete ({type(e).__name__}: {e})', rewrite)
