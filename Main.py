"""Command line for MAML few-shot regression: train, evaluate, plot, report, benchmark.

  python Main.py                      # the paper's K=10 sinusoid MAML: train, eval, dashboard
  python Main.py --mode=eval --eval_k=5,10,20          # that model at other K
  python Main.py --method=pretrain    # the pretrained baseline
  python Main.py --mode=point --point=square           # train one robustness-study point
  python Main.py --mode=study         # train every point's models, many per graph
  python Main.py --mode=report        # re-evaluate everything shipped, redraw, rewrite README
  python Main.py --mode=redraw        # redraw and rewrite from the saved results only
  python Main.py --mode=redraw --figure=paper_fig3     # one figure alone, in seconds

Each mode takes only its own flags (--helpfull lists them under --mode) and
refuses any other in one line. Flags are read here only; the library modules
take explicit arguments.
"""
import dataclasses
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from typing import List

STARTED = time.time()   # before TensorFlow loads: the report's start-up time counts it

def stop_during_start_up(signum, _frame):
  """Ctrl-C or SIGTERM while TensorFlow loads: nothing is written yet, so just stop."""
  sys.stderr.write(f'error: {signal.Signals(signum).name} during start-up: stopped, nothing '
                   'was written\n')
  os._exit(128 + signum)  # pylint: disable=protected-access


if __name__ == '__main__':
  for _signal in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_signal, stop_during_start_up)

from absl import app
from absl import flags

import experiment
from experiment import CommandError
import FunGenerator
import grouped
import paper
import utils
from study import ceiling as study_ceiling
from study import points as study_points
from study import protocols as study_protocols
from study import report as study_report

ROOT = os.path.dirname(os.path.abspath(__file__))
METHODS = ('maml', 'pretrain', 'oracle')
DEFAULTS = experiment.Settings()
DEFAULT_RANGES = DEFAULTS.ranges
# Flags that define a model: its settings, stored in config.json.
SETTINGS_FLAGS = ('method', 'first_order', 'K', 'meta_batch_size', 'meta_iterations', 'alpha',
                  'beta', 'num_updates', 'test_num_updates', 'hidden', 'family', 'amplitude',
                  'phase', 'frequency', 'x_range', 'mix', 'slope', 'offset', 'curvature',
                  'noise_std', 'seed', 'iterations_per_run')
FOLDER_FLAGS = ('logdir', 'exp_name')
TRAIN_FLAGS = ('resume', 'print_interval', 'save_interval')
EVAL_FLAGS = ('eval_k', 'eval_alpha', 'eval_seed')
# The flags each mode uses; any other flag given on the command line is refused.
# In report, reproduce, point and study modes the models are the project's
# (the paper's and the study's definitions), so no flag may change them.
PROJECT_MODES = ('report', 'reproduce', 'point', 'study')
MODE_FLAGS = {
    'all': (SETTINGS_FLAGS + FOLDER_FLAGS + TRAIN_FLAGS + EVAL_FLAGS
            + ('num_eval_tasks', 'img_dir')),
    'train': SETTINGS_FLAGS + FOLDER_FLAGS + TRAIN_FLAGS,
    'eval': SETTINGS_FLAGS + FOLDER_FLAGS + EVAL_FLAGS + ('num_eval_tasks',),
    'plot': SETTINGS_FLAGS + FOLDER_FLAGS + EVAL_FLAGS + ('img_dir',),
    'benchmark': tuple(f for f in SETTINGS_FLAGS if f != 'meta_iterations')
                 + ('logdir', 'benchmark_repeats', 'benchmark_seconds'),
    'report': ('logdir', 'img_dir', 'readme', 'num_eval_tasks', 'eval_seed', 'workers'),
    'reproduce': ('logdir', 'img_dir', 'readme', 'num_eval_tasks', 'eval_seed',
                  'print_interval', 'save_interval', 'workers'),
    'point': ('point', 'logdir', 'print_interval', 'save_interval', 'workers'),
    'study': ('logdir', 'print_interval', 'save_interval', 'workers'),
    'points': (),
    'ceiling': ('logdir', 'num_eval_tasks', 'eval_seed', 'workers'),
    'redraw': ('logdir', 'img_dir', 'readme', 'figure'),
}
MODES = tuple(MODE_FLAGS)
FIGURES = paper.FIGURES + study_report.FIGURES   # what --figure names


def mode_flags_text(mode: str) -> str:
  """A mode's flags for --help, the model flags (SETTINGS_FLAGS) named once."""
  names = MODE_FLAGS[mode]
  model = set(SETTINGS_FLAGS) <= set(names)
  rest = [n for n in names if not (model and n in SETTINGS_FLAGS)]
  return ', '.join((['the model flags'] if model else []) + rest) or 'none'


SEED_LIMIT = 2 ** 32     # numpy's RandomState takes seeds in [0, 2^32)
INT32_MAX = 2 ** 31 - 1  # TF shapes and indices are int32
MAX_UNROLLED_STEPS = 1000   # building the static graph takes about a second per 10 steps
# In eval and plot modes a model flag must agree with the checkpoint's config;
# these say how to get what such a flag would have asked for.
EVAL_HINTS = {'K': 'evaluate at another K with --eval_k',
              'alpha': 'adapt with another step size with --eval_alpha',
              'seed': 'draw other test tasks with --eval_seed'}

FLAGS = flags.FLAGS
flags.DEFINE_string(
    'mode', 'all',
    'all = train, then eval, then plot; report = regenerate every README figure and table '
    'from the checkpoints in <logdir>; reproduce = train all those models, then report '
    '(figures and README go to <logdir>/Img and <logdir>/README.md unless --img_dir/--readme '
    'say otherwise); point = train the models of one robustness --point; study = train the '
    'models of every point; points = list the point names; ceiling = fit one network per task of the shape points (the regression '
    'ceiling the report shows); redraw = every figure and README section (or only the '
    '--figure ones) from the results files the last report wrote, without evaluating '
    f'(seconds). One of {", ".join(MODES)}. Each mode refuses, with one line, any flag it '
    'does not use: ' + '; '.join(f'{m}: {mode_flags_text(m)}' for m in MODES)
    + f'. The model flags: {", ".join(SETTINGS_FLAGS)}'
    + '. In eval and plot modes the model flags must agree with the checkpoint\'s '
    'config.json, except --test_num_updates, the number of steps evaluated.')
flags.DEFINE_string('method', DEFAULTS.method,
                  'maml: meta-learn theta; pretrain: one network regressed on all '
                  'tasks jointly; oracle: pretrain with the task parameters as inputs.')
flags.DEFINE_bool('first_order', DEFAULTS.first_order, 'First-order MAML: no gradient through the inner gradient.')
flags.DEFINE_integer('K', DEFAULTS.K, 'K: points per task in the support set a and in the query set b.')
flags.DEFINE_integer('meta_batch_size', DEFAULTS.meta_batch_size, 'Tasks per meta-iteration.')
flags.DEFINE_integer('meta_iterations', DEFAULTS.meta_iterations, 'Meta-iterations (Adam steps of size beta).')
flags.DEFINE_float('alpha', DEFAULTS.alpha, 'alpha: inner step size (the original code\'s 1e-3 default is a trap).')
flags.DEFINE_float('beta', DEFAULTS.beta, 'beta: meta step size, the Adam learning rate.')
flags.DEFINE_integer('num_updates', DEFAULTS.num_updates, 'Inner gradient steps at meta-training.')
flags.DEFINE_integer('test_num_updates', DEFAULTS.test_num_updates, 'Inner gradient steps at meta-test (0..N are '
                     'evaluated; in eval mode, default: the trained model\'s).')
flags.DEFINE_list('hidden', list(map(str, DEFAULTS.hidden)), 'Hidden layer sizes.')
flags.DEFINE_string('family', DEFAULTS.family, f'Task family, one of {sorted(FunGenerator.FAMILIES)}.')
flags.DEFINE_list('amplitude', list(map(str, DEFAULT_RANGES.amplitude)), 'Amplitude range [min,max].')
flags.DEFINE_list('phase', list(map(str, DEFAULT_RANGES.phase)), 'Phase range phi [min,max] in radians, y = a sin(2 pi w x - phi).')
flags.DEFINE_list('frequency', list(map(str, DEFAULT_RANGES.frequency)), 'Frequency range w [min,max], cycles per unit.')
flags.DEFINE_list('x_range', list(map(str, DEFAULT_RANGES.x)), 'Input range [min,max].')
flags.DEFINE_list('mix', list(map(str, DEFAULT_RANGES.mix)), 'Sum family: range of the cosine weight b [min,max].')
flags.DEFINE_list('slope', list(map(str, DEFAULT_RANGES.slope)), 'Linear and quadratic families: slope range [min,max].')
flags.DEFINE_list('offset', list(map(str, DEFAULT_RANGES.offset)), 'Linear and quadratic families: offset range [min,max].')
flags.DEFINE_list('curvature', list(map(str, DEFAULT_RANGES.curvature)), 'Quadratic family: x^2 coefficient range [min,max].')
flags.DEFINE_float('noise_std', DEFAULT_RANGES.noise_std, 'Std of the Gaussian noise added to the observed y.')
flags.DEFINE_string('point', '', 'Robustness study point for --mode=point (list them with --mode=points).')
flags.DEFINE_integer('seed', DEFAULTS.seed, 'Seed of initialisation and training tasks.')
flags.DEFINE_integer('eval_seed', 12345, 'Seed of the held-out evaluation tasks.')
flags.DEFINE_integer('num_eval_tasks', 600, 'Held-out tasks per evaluation.')
flags.DEFINE_list('eval_k', [], 'K values to evaluate (default: the K the model was trained with).')
flags.DEFINE_float('eval_alpha', None, 'Test-time step size (default: the model\'s training alpha).')
flags.DEFINE_string('logdir', 'logs', 'Folder of the experiment folders.')
flags.DEFINE_string('exp_name', '', 'Experiment folder name (default: built from the settings).')
flags.DEFINE_string('img_dir', 'Img', 'Folder of the figures (reproduce mode: <logdir>/Img).')
flags.DEFINE_string('readme', 'README.md', 'README whose generated sections report and reproduce '
                    'modes rewrite (reproduce mode: <logdir>/README.md, a copy of README.md).')
flags.DEFINE_bool('resume', False, 'Continue training from the last checkpoint in the experiment folder.')
flags.DEFINE_integer('iterations_per_run', DEFAULTS.iterations_per_run, 'Meta-iterations per session.run (one data transfer).')
flags.DEFINE_integer('print_interval', 5000, 'Meta-iterations between progress lines.')
flags.DEFINE_integer('save_interval', 10000, 'Meta-iterations between checkpoints.')
flags.DEFINE_integer('workers', utils.WORKERS, 'Threads working at once, one per core: groups of '
                     'models training (point, study, reproduce), models evaluating (report, '
                     'reproduce), per-task fits (ceiling, reproduce). Results do not depend on it.')
flags.DEFINE_list('figure', [], 'Redraw mode: only these figures, by name (Img/<name>.png), '
                  'from the saved results in seconds; no README section is rewritten. One or '
                  f'more of {", ".join(FIGURES)} (the main job\'s dashboard is --mode=plot\'s).')
flags.DEFINE_integer('benchmark_repeats', 3, 'Benchmark: timed repeats per case (the median is reported).')
flags.DEFINE_float('benchmark_seconds', 4.0, 'Benchmark: seconds per timed repeat.')
POSITIVE_INTEGERS = ('K', 'meta_batch_size', 'meta_iterations', 'num_updates', 'test_num_updates',
                     'num_eval_tasks', 'iterations_per_run', 'print_interval', 'save_interval',
                     'benchmark_repeats', 'workers')
POSITIVE_FLOATS = ('alpha', 'beta', 'eval_alpha', 'benchmark_seconds')
RANGE_FLAGS = ('amplitude', 'phase', 'frequency', 'mix', 'slope', 'offset', 'curvature')


# ----------------------------------------------------------------- settings --

def parse_range(name: str) -> FunGenerator.Range:
  values = getattr(FLAGS, name)
  try:
    low, high = (float(v) for v in values)
  except ValueError:
    raise CommandError(f'--{name}={",".join(values)}: expected two numbers min,max')
  if not (math.isfinite(low) and math.isfinite(high)) or low > high:
    raise CommandError(f'--{name}={low},{high}: expected finite min <= max')
  return low, high


def check_choice(name: str, allowed):
  if getattr(FLAGS, name) not in allowed:
    raise CommandError(f'--{name}={getattr(FLAGS, name)}: allowed values are '
                       f'{", ".join(allowed)}')


def given(name: str) -> bool:
  """True if the flag was on the command line."""
  return bool(FLAGS[name].present)


def refuse_unused_flags():
  """Every flag given either applies to the mode or stops the run."""
  used = set(MODE_FLAGS[FLAGS.mode]) | {'mode'}
  for name in sorted(FLAGS.get_key_flags_for_module(sys.modules[__name__]),
                     key=lambda f: f.name):
    if name.present and name.name not in used:
      why = (" (the paper's and the study's models are defined by the project)"
             if FLAGS.mode in PROJECT_MODES and name.name in SETTINGS_FLAGS
             else '')
      raise CommandError(f'--{name.name} does not apply to --mode={FLAGS.mode}{why}; '
                         f'that mode takes {", ".join("--" + f for f in sorted(used))}')


def validate_flags():
  """One-line errors for values the run cannot use, before anything is touched."""
  check_choice('mode', MODES)
  refuse_unused_flags()
  check_choice('method', METHODS)
  check_choice('family', sorted(FunGenerator.FAMILIES))
  for name in POSITIVE_INTEGERS:
    if getattr(FLAGS, name) < 1:
      raise CommandError(f'--{name}={getattr(FLAGS, name)}: must be an integer >= 1')
  for name in POSITIVE_FLOATS:
    value = getattr(FLAGS, name)
    if value is not None and not (math.isfinite(value) and value > 0):
      raise CommandError(f'--{name}={value}: must be a finite number > 0')
  if not (math.isfinite(FLAGS.noise_std) and FLAGS.noise_std >= 0):
    raise CommandError(f'--noise_std={FLAGS.noise_std}: must be a finite number >= 0')
  if FLAGS.mode == 'point':
    check_choice('point', sorted(study_points.POINTS))
  check_figures()
  for name in ('hidden', 'eval_k'):
    if not all(v.isdigit() and int(v) >= 1 for v in getattr(FLAGS, name)):
      raise CommandError(f'--{name}={",".join(getattr(FLAGS, name))}: must be '
                         'comma-separated integers >= 1')
  if not FLAGS.hidden:
    raise CommandError('--hidden=: at least one hidden layer size, e.g. --hidden=40,40')
  for name in ('num_updates', 'test_num_updates'):
    if getattr(FLAGS, name) > MAX_UNROLLED_STEPS:
      raise CommandError(f'--{name}={getattr(FLAGS, name)}: at most {MAX_UNROLLED_STEPS} inner '
                         'steps (each is unrolled in the static graph, about a second to build '
                         'per 10 steps)')
  for name in ('seed', 'eval_seed'):
    if not 0 <= getattr(FLAGS, name) < SEED_LIMIT:
      raise CommandError(f'--{name}={getattr(FLAGS, name)}: must be an integer in '
                         f'[0, {SEED_LIMIT - 1}]')
  check_writable()


def check_figures():
  """--figure names known figures, and a figure alone rewrites no README."""
  if not given('figure'):
    return
  if not FLAGS.figure or any(name not in FIGURES for name in FLAGS.figure):
    raise CommandError(f'--figure={",".join(FLAGS.figure)}: allowed values are one or more of '
                       f'{", ".join(FIGURES)}')
  if given('readme'):
    raise CommandError('--readme does not apply with --figure: redrawing single figures '
                       'rewrites no README section')


def check_writable():
  """Every output folder (or the folder that would hold it) is writable before
  any work starts, so a long run cannot fail at its last step."""
  used = MODE_FLAGS[FLAGS.mode]
  outputs = [('logdir', FLAGS.logdir)] if 'logdir' in used and FLAGS.mode != 'eval' else []
  if (FLAGS.mode in ('all', 'plot', 'report', 'redraw')
      or (FLAGS.mode == 'reproduce' and given('img_dir'))):
    outputs.append(('img_dir', FLAGS.img_dir))
  if (FLAGS.mode == 'report' or (FLAGS.mode == 'redraw' and not given('figure'))
      or (FLAGS.mode == 'reproduce' and given('readme'))):
    outputs.append(('readme', FLAGS.readme))
  for name, path in outputs:
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
      existing = os.path.dirname(existing)
    folder = existing if os.path.isdir(existing) else os.path.dirname(existing)
    try:   # a real write: permission bits do not stop root, read-only mounts do
      with tempfile.TemporaryFile(dir=folder):
        pass
      if os.path.isfile(path):
        with open(path, 'a'):
          pass
    except OSError as e:
      raise CommandError(f'--{name}={path}: not writable ({e.strerror}); choose another --{name}')


def check_resources(settings: experiment.Settings, eval_ks=()):
  """Sizes TF shapes can hold and memory this machine has, before anything is built."""
  dim = experiment.model_config(settings).dim_input
  chunk = settings.iterations_per_run * settings.meta_batch_size * 2 * settings.K * dim
  largest = max([chunk] + [experiment.eval_batch_size(settings) * (2 * k + experiment.GRID_POINTS)
                           for k in eval_ks])
  if largest > INT32_MAX:
    raise CommandError(f'--K={settings.K}, --meta_batch_size={settings.meta_batch_size}, '
                       f'--iterations_per_run={settings.iterations_per_run}, --eval_k: a tensor '
                       f'of {largest:.3g} numbers exceeds what a TF shape holds ({INT32_MAX})')
  needs = {}
  if FLAGS.mode in ('all', 'train', 'benchmark'):
    needs['training'] = experiment.training_bytes(settings)
  for k in eval_ks:
    needs[f'evaluating {FLAGS.num_eval_tasks} tasks at K={k}'] = experiment.evaluation_bytes(
        settings, k, FLAGS.num_eval_tasks)
  for what, need in needs.items():
    require_memory(what, need, '--num_eval_tasks, --eval_k, --K, --meta_batch_size, '
                               '--iterations_per_run, --hidden')


def check_report_memory():
  """The study evaluates all tasks of a point at once: refuse a task count it cannot hold."""
  steps = study_protocols.FINAL_STEP
  settings = dataclasses.replace(experiment.Settings(), test_num_updates=steps)
  regions = len(study_protocols.MEASURED)     # grids predicted per task
  need = regions * experiment.evaluation_bytes(
      settings, max(study_protocols.EVAL_KS), FLAGS.num_eval_tasks) + (
          FLAGS.num_eval_tasks * steps * experiment.num_parameters(settings)
          * experiment.TF_FLOAT_BYTES)
  require_memory(f'the report of {FLAGS.num_eval_tasks} tasks per point', need,
                 '--num_eval_tasks')


def require_memory(what: str, need: int, flags_to_lower: str):
  """One line if `need` bytes exceed the memory this machine has available."""
  available = utils.available_bytes()
  if need > available:
    raise CommandError(
        f'{what} would need about {utils.readable_bytes(need)} of memory and this machine '
        f'has {utils.readable_bytes(available)} available; ask for less ({flags_to_lower})')


def settings_from_flags() -> experiment.Settings:
  """The settings of the run the flags describe."""
  ranges = dataclasses.replace(
      DEFAULT_RANGES, x=parse_range('x_range'), noise_std=FLAGS.noise_std,
      **{name: parse_range(name) for name in RANGE_FLAGS})
  return experiment.Settings(
      method=FLAGS.method, first_order=FLAGS.first_order, K=FLAGS.K,
      meta_batch_size=FLAGS.meta_batch_size, meta_iterations=FLAGS.meta_iterations,
      alpha=FLAGS.alpha, beta=FLAGS.beta, num_updates=FLAGS.num_updates,
      test_num_updates=FLAGS.test_num_updates, hidden=tuple(int(h) for h in FLAGS.hidden),
      family=FLAGS.family, ranges=ranges, seed=FLAGS.seed,
      iterations_per_run=FLAGS.iterations_per_run)


def flag_value(settings: experiment.Settings, name: str):
  """The value of a model flag in `settings` (range flags live in settings.ranges)."""
  if name == 'x_range':
    return settings.ranges.x
  if name in RANGE_FLAGS or name == 'noise_std':
    return getattr(settings.ranges, name)
  return getattr(settings, name)


def check_model_flags(saved: experiment.Settings, requested: experiment.Settings, path: str):
  """In eval and plot modes, each model flag given must agree with the checkpoint."""
  for name in SETTINGS_FLAGS:
    if given(name) and name != 'test_num_updates':
      asked, trained = flag_value(requested, name), flag_value(saved, name)
      if asked != trained:
        hint = EVAL_HINTS.get(name, 'a checkpoint is evaluated with the settings it was '
                                    'trained with')
        raise CommandError(f'--{name}={asked}: {path} was trained with {name}={trained}; {hint}')


def report_outputs():
  """(img_dir, readme) of report and reproduce modes: reproduce writes beside its
  retrained checkpoints unless told otherwise, so the shipped ones stay."""
  if FLAGS.mode != 'reproduce':
    return FLAGS.img_dir, FLAGS.readme
  img_dir = FLAGS.img_dir if given('img_dir') else os.path.join(FLAGS.logdir, 'Img')
  readme = FLAGS.readme if given('readme') else os.path.join(FLAGS.logdir, 'README.md')
  if not os.path.exists(readme):
    experiment.make_experiment_dir(os.path.dirname(readme) or '.')
    shutil.copy(os.path.join(ROOT, 'README.md'), readme)
  return img_dir, readme


class PartTimer:
  """Wall time of consecutive parts of a run, written as a record the README quotes."""

  def __init__(self, started: float):
    self.seconds, self._start = {}, started

  def part(self, name: str):
    """Ends part `name` (it began where the last one ended, or at `started`)."""
    now = time.time()
    self.seconds[name], self._start = now - self._start, now

  def write(self, path: str, **details):
    utils.write_json(path, {
        'seconds': self.seconds, 'total_seconds': sum(self.seconds.values()),
        'workers': FLAGS.workers, 'cpu_count': os.cpu_count(),
        'code': experiment.code_version(), **details})


def report(img_dir: str, readme: str, started: float):
  """Re-evaluates the paper's models and the study's points, then redraws and
  rewrites every figure and README section from the results files; the wall
  time of each part since `started` goes to <logdir>/report_time.json and the
  README."""
  timer = PartTimer(started)   # paper.REPORT_PARTS, in that order
  timer.part('start-up')
  if not os.path.isdir(FLAGS.logdir):
    raise CommandError(f'--logdir={FLAGS.logdir}: no such folder; it should hold the trained '
                       'models (logs/paper, logs/robustness)')
  with experiment.folder_lock(FLAGS.logdir, '--logdir'):   # a second report stops at once
    paper_results = paper.evaluate_all(FLAGS.logdir, FLAGS.num_eval_tasks, FLAGS.eval_seed,
                                       FLAGS.workers)
    timer.part('paper evaluation')
    paper.write_report(paper_results, FLAGS.logdir, img_dir, readme)
    timer.part('paper figures and tables')
    study_protocols.evaluate(FLAGS.logdir, FLAGS.num_eval_tasks, FLAGS.eval_seed,
                             workers=FLAGS.workers)
    timer.part('study evaluation')
    study_results = study_report.report(FLAGS.logdir, img_dir, readme)
    timer.part('study figures and tables')
  experiment.warn_if_mixed(
      [r for by_k in paper_results.values() for r in by_k.values()]
      + list(study_results.values()))
  record = os.path.join(FLAGS.logdir, paper.REPORT_RECORD)
  timer.write(record, num_eval_tasks=FLAGS.num_eval_tasks)
  utils.update_readme(readme, {'report_time': paper.report_text(utils.read_json(record), record)})


def redraw_figures(names: List[str]):
  """Draws only the named figures into --img_dir from the saved results."""
  available = {}
  if set(names) & set(paper.FIGURES):
    available.update(paper.figures(paper.saved_results(FLAGS.logdir), FLAGS.logdir))
  if set(names) & set(study_report.FIGURES):
    available.update(study_report.figures(FLAGS.logdir, *study_report.saved_results(FLAGS.logdir)))
  os.makedirs(FLAGS.img_dir, exist_ok=True)
  for name in names:
    if name not in available:
      raise CommandError(f'--figure={name}: its results are not all in {FLAGS.logdir}; run '
                         '--mode=report first')
    path = os.path.join(FLAGS.img_dir, name + '.png')
    available[name](path)
    print(f'wrote {path}', flush=True)


def train_models(jobs):
  return grouped.train_models(jobs, FLAGS.print_interval, FLAGS.save_interval, FLAGS.workers)


def reproduce():
  """Trains every model of the paper and the study (grouped), fits the ceiling,
  then reports; the wall time of each part goes to <logdir>/reproduce.json."""
  img_dir, readme = report_outputs()
  timer = PartTimer(time.time())    # paper.REPRODUCE_PARTS, in that order
  trained = train_models(paper.training_jobs(FLAGS.logdir)
                         + study_points.training_jobs(list(study_points.POINTS), FLAGS.logdir))
  timer.part('training')
  study_ceiling.write_ceilings(FLAGS.logdir, FLAGS.num_eval_tasks, FLAGS.eval_seed,
                               workers=FLAGS.workers)
  timer.part('ceiling')
  report(img_dir, readme, time.time())
  timer.part('report')
  timer.write(os.path.join(FLAGS.logdir, paper.REPRODUCE_RECORD), models_trained=len(trained))


def evaluation_settings(settings: experiment.Settings, path: str) -> experiment.Settings:
  """The checkpoint's settings, with --test_num_updates if given."""
  saved = experiment.load_settings(path)
  check_model_flags(saved, settings, path)
  if given('test_num_updates'):
    saved = dataclasses.replace(saved, test_num_updates=FLAGS.test_num_updates)
  return saved


# -------------------------------------------------------------------- main --

def run():
  validate_flags()
  settings = settings_from_flags()
  if FLAGS.mode == 'points':
    print('\n'.join(study_points.POINTS))
    return
  if FLAGS.mode in ('point', 'study'):
    train_models(study_points.training_jobs(
        [FLAGS.point] if FLAGS.mode == 'point' else list(study_points.POINTS), FLAGS.logdir))
    return
  if FLAGS.mode in ('report', 'reproduce', 'ceiling'):
    check_report_memory()
  if FLAGS.mode == 'report':
    report(*report_outputs(), STARTED)
    return
  if FLAGS.mode == 'reproduce':
    reproduce()
    return
  if FLAGS.mode == 'redraw' and given('figure'):
    redraw_figures(FLAGS.figure)
    return
  if FLAGS.mode == 'redraw':
    paper.write_report(paper.saved_results(FLAGS.logdir), FLAGS.logdir, FLAGS.img_dir,
                       FLAGS.readme)
    study_report.report(FLAGS.logdir, FLAGS.img_dir, FLAGS.readme)
    return
  if FLAGS.mode == 'ceiling':
    study_ceiling.write_ceilings(FLAGS.logdir, FLAGS.num_eval_tasks, FLAGS.eval_seed,
                                 workers=FLAGS.workers)
    return
  if FLAGS.mode in ('all', 'train', 'benchmark'):
    check_resources(settings)
  if FLAGS.mode == 'benchmark':
    results = experiment.benchmark(settings, FLAGS.benchmark_repeats, FLAGS.benchmark_seconds)
    results.update(grouped.benchmark(settings, FLAGS.benchmark_repeats, FLAGS.benchmark_seconds))
    experiment.write_benchmark(os.path.join(FLAGS.logdir, 'benchmark.json'), results)
    return
  if FLAGS.exp_name:
    path = os.path.join(FLAGS.logdir, FLAGS.exp_name)
  elif FLAGS.resume:
    path = experiment.find_run(FLAGS.logdir, settings)
  else:
    path = os.path.join(FLAGS.logdir, experiment.experiment_name(settings))
  if FLAGS.mode in ('all', 'train'):
    experiment.train(settings, path, FLAGS.resume, FLAGS.print_interval, FLAGS.save_interval)
  if FLAGS.mode == 'train':
    return
  saved = evaluation_settings(settings, path)
  eval_ks = [int(k) for k in FLAGS.eval_k] or [saved.K]
  check_resources(saved, eval_ks)
  alpha = saved.alpha if FLAGS.eval_alpha is None else FLAGS.eval_alpha
  if FLAGS.mode in ('all', 'eval'):
    for k in eval_ks:
      stats = experiment.evaluate(saved, path, k, FLAGS.num_eval_tasks, FLAGS.eval_seed, alpha)
      experiment.print_summary(stats, k)
  if FLAGS.mode in ('all', 'plot'):
    os.makedirs(FLAGS.img_dir, exist_ok=True)
    for k in eval_ks:
      figure = os.path.join(FLAGS.img_dir, f'{os.path.basename(path)}_K{k}.png')
      experiment.plot(saved, path, k, FLAGS.eval_seed, alpha, figure)


def interrupt(signum, _frame):
  """SIGINT and SIGTERM outside the training loop (which saves first): stop now."""
  raise CommandError(f'{signal.Signals(signum).name}: stopped; files already written are '
                     'complete (each is written to a temporary name, then renamed)', 128 + signum)


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; flags look like --name=value')
  for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, interrupt)
  try:
    run()
  except CommandError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(e.exit_code)
  except (MemoryError, experiment.tf.errors.ResourceExhaustedError) as e:
    sys.exit(f'error: out of memory ({experiment.first_line(e) or "MemoryError"}); ask for less '
             '(--num_eval_tasks, --eval_k, --K, --meta_batch_size, --hidden)')
  except OSError as e:
    sys.exit(f'error: {e.filename or ""}: {e.strerror}; free some space or choose a writable '
             '--logdir/--img_dir (files already written are complete)')


if __name__ == '__main__':
  app.run(main)
