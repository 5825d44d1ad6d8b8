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
import errno
import math
import os
import signal
import sys
import time

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

from common import fileio
from common import interrupts
import FunGenerator
from publish import report_modes
from publish import run_figure
from run import benchmark
from run import checkpoints
from run import evaluation
from run import scheduler
from run import settings as run_settings
from run import training
from study import points as study_points
import utils
from utils import CommandError

DEFAULTS = run_settings.Settings()
# Flags that define a model: its settings, stored in config.json.
SETTINGS_FLAGS = ('method', 'first_order', 'K', 'meta_batch_size', 'meta_iterations', 'alpha',
                  'beta', 'num_updates', 'test_num_updates', 'hidden', 'family', 'amplitude',
                  'phase', 'frequency', 'frequency_offset', 'x_range', 'mix', 'slope', 'offset',
                  'curvature',
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


def mode_flags_text(mode: str) -> str:
  """A mode's flags for --help, the model flags (SETTINGS_FLAGS) named once."""
  names = MODE_FLAGS[mode]
  model = set(SETTINGS_FLAGS) <= set(names)
  rest = [n for n in names if not (model and n in SETTINGS_FLAGS)]
  return ', '.join((['the model flags'] if model else []) + rest) or 'none'


# In eval and plot modes a model flag must agree with the checkpoint's config;
# these say how to get what such a flag would have asked for.
EVAL_HINTS = {'K': 'evaluate at another K with --eval_k',
              'alpha': 'adapt with another step size with --eval_alpha',
              'seed': 'draw other test tasks with --eval_seed'}
# What to do about a failed file operation, by errno; files written are whole anyway.
OS_ADVICE = {
    **dict.fromkeys((errno.ENOSPC, errno.EFBIG, errno.EDQUOT),
                    'free some space or raise the file-size limit (ulimit -f); '),
    **dict.fromkeys((errno.EACCES, errno.EPERM, errno.EROFS),
                    'choose a writable --logdir/--img_dir/--readme; '),
}
TRAINING_MODES = ('all', 'train', 'benchmark')
REPORT_MODES = ('report', 'reproduce', 'ceiling')   # the study evaluates all tasks at once
# Range flags: flag -> (FunGenerator.TaskRanges field, help).
RANGE_FLAGS = {
    'x_range': ('x', 'Input range [min,max].'),
    'amplitude': ('amplitude', 'Amplitude range [min,max].'),
    'phase': ('phase', 'Phase range phi [min,max] in radians, y = a sin(2 pi w x - phi).'),
    'frequency': ('frequency', 'Frequency range w [min,max], cycles per unit.'),
    'frequency_offset': ('frequency_offset', 'Sum and product families with a single '
                         'frequency w: range of w2 - w1 [min,max] (0,0: one frequency).'),
    'mix': ('mix', 'Sum family: range of the cosine weight b [min,max].'),
    'slope': ('slope', 'Linear and quadratic families: slope range [min,max].'),
    'offset': ('offset', 'Linear and quadratic families: offset range [min,max].'),
    'curvature': ('curvature', 'Quadratic family: x^2 coefficient range [min,max].'),
}

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
for _name, (_field, _help) in RANGE_FLAGS.items():
  flags.DEFINE_list(_name, list(map(str, getattr(DEFAULTS.ranges, _field))), _help)
flags.DEFINE_float('noise_std', DEFAULTS.ranges.noise_std, 'Std of the Gaussian noise added to the observed y.')
flags.DEFINE_string('point', '', 'Robustness study point for --mode=point (list them with --mode=points).')
flags.DEFINE_integer('seed', DEFAULTS.seed, 'Seed of initialisation and training tasks.')
flags.DEFINE_integer('eval_seed', evaluation.STANDARD_SEED, 'Seed of the held-out evaluation '
                     'tasks (in eval mode another seed writes eval_K<k>_seed<N> files).')
flags.DEFINE_integer('num_eval_tasks', evaluation.STANDARD_TASKS, 'Held-out tasks per evaluation '
                     '(in eval mode another count writes eval_K<k>_<N>tasks files).')
flags.DEFINE_list('eval_k', [], 'K values to evaluate (default: the K the model was trained with).')
flags.DEFINE_float('eval_alpha', None, 'Test-time step size (default: the model\'s training alpha).')
flags.DEFINE_string('logdir', 'logs', 'Folder of the experiment folders.')
flags.DEFINE_string('exp_name', '', 'Experiment folder name (default: built from the settings).')
flags.DEFINE_string('img_dir', 'Img', 'Folder of the figures (reproduce mode, and all/plot of a run in another --logdir than logs: <logdir>/Img).')
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
                  f'more of {", ".join(report_modes.FIGURES)} (the main job\'s dashboard is --mode=plot\'s).')
flags.DEFINE_integer('benchmark_repeats', benchmark.PUBLISHED_REPEATS, 'Benchmark: timed repeats per case (the median is reported; other values write benchmark_repeats<n>.json).')
flags.DEFINE_float('benchmark_seconds', benchmark.PUBLISHED_SECONDS, 'Benchmark: seconds per timed repeat (other values write benchmark_seconds<s>.json).')
# Keys run_settings.RULES bounds that are checked where their flags are parsed,
# with more to say: ranges (parse_range, the flags of RANGE_FLAGS) and choices
# (check_choice).
PARSED_ELSEWHERE = {field for field, _ in RANGE_FLAGS.values()} | {'method', 'family'}


# ---------------------------------------------------------------- validation --

def parse_range(name: str) -> FunGenerator.Range:
  values = getattr(FLAGS, name)
  try:
    low, high = (float(v) for v in values)
  except ValueError:
    raise CommandError(f'--{name}={",".join(values)}: expected two numbers min,max')
  if not (math.isfinite(low) and math.isfinite(high)) or low > high:
    raise CommandError(f'--{name}={low},{high}: expected finite min <= max')
  if name == 'x_range' and low == high:     # a task's K inputs and its grid span the range
    raise CommandError(f'--x_range={low},{high}: expected min < max (the inputs are drawn '
                       'from it)')
  return low, high


def check_choice(name: str, allowed):
  if getattr(FLAGS, name) not in allowed:
    raise CommandError(f'--{name}={getattr(FLAGS, name)}: allowed values are '
                       f'{", ".join(allowed)}')


def given(name: str) -> bool:
  """True if the flag was on the command line."""
  return bool(FLAGS[name].present)


def if_given(name: str):
  """The flag's value if it was on the command line, else None."""
  return getattr(FLAGS, name) if given(name) else None


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
  check_choice('method', run_settings.METHODS)
  check_choice('family', sorted(FunGenerator.FAMILIES))
  if FLAGS.mode == 'point':
    check_choice('point', sorted(study_points.POINTS))
  check_figures()
  for names, allowed, test in run_settings.RULES:
    for name in (n for n in names if n not in PARSED_ELSEWHERE):
      value = getattr(FLAGS, name)
      if value is None:    # not given (--eval_alpha)
        continue
      if name in ('hidden', 'eval_k'):    # comma-separated on the command line
        value = [int(v) if v.isdigit() else v for v in value]
      if not test(value):
        shown = ','.join(map(str, value)) if isinstance(value, list) else value
        raise CommandError(f'--{name}={shown}: must be {allowed}')
  if '/' in FLAGS.exp_name or FLAGS.exp_name in ('.', '..'):
    raise CommandError(f'--exp_name={FLAGS.exp_name}: must be one folder name inside --logdir '
                       '(no "/", not "." or "..")')
  for name, path in outputs():
    fileio.check_writable(name, path)


def check_figures():
  """--figure names known figures, and a figure alone rewrites no README."""
  if not given('figure'):
    return
  if not FLAGS.figure or any(name not in report_modes.FIGURES for name in FLAGS.figure):
    raise CommandError(f'--figure={",".join(FLAGS.figure)}: allowed values are one or more of '
                       f'{", ".join(report_modes.FIGURES)}')
  if given('readme'):
    raise CommandError('--readme does not apply with --figure: redrawing single figures '
                       'rewrites no README section')


def outputs():
  """(flag, path) of every output the mode writes: checked writable before any
  work starts, so a long run cannot fail at its last step."""
  used = MODE_FLAGS[FLAGS.mode]
  # These only read the logdir: an eval of a read-only folder prints its
  # results, a dashboard or a single figure is drawn into the figure folder.
  reads_logdir = FLAGS.mode in ('eval', 'plot') or (FLAGS.mode == 'redraw' and given('figure'))
  paths = [('logdir', FLAGS.logdir)] if 'logdir' in used and not reads_logdir else []
  if FLAGS.mode in ('all', 'plot'):
    paths.append(('img_dir', run_figures_dir()))
  if FLAGS.mode in ('report', 'redraw') or (FLAGS.mode == 'reproduce' and given('img_dir')):
    paths.append(('img_dir', FLAGS.img_dir))
  if (FLAGS.mode == 'report' or (FLAGS.mode == 'redraw' and not given('figure'))
      or (FLAGS.mode == 'reproduce' and given('readme'))):
    paths.append(('readme', FLAGS.readme))
  return paths


def run_figures_dir() -> str:
  """Where a run's dashboard goes: --img_dir, or <logdir>/Img for a run of
  another --logdir than the project's (Img/ holds the project's runs' figures:
  a run of the same name elsewhere must not replace them)."""
  if given('img_dir') or os.path.realpath(FLAGS.logdir) == os.path.realpath(
      FLAGS['logdir'].default):
    return FLAGS.img_dir
  return os.path.join(FLAGS.logdir, 'Img')


def settings_from_flags() -> run_settings.Settings:
  """The settings of the run the flags describe."""
  ranges = dataclasses.replace(
      DEFAULTS.ranges, noise_std=FLAGS.noise_std,
      **{field: parse_range(name) for name, (field, _) in RANGE_FLAGS.items()})
  return run_settings.Settings(
      method=FLAGS.method, first_order=FLAGS.first_order, K=FLAGS.K,
      meta_batch_size=FLAGS.meta_batch_size, meta_iterations=FLAGS.meta_iterations,
      alpha=FLAGS.alpha, beta=FLAGS.beta, num_updates=FLAGS.num_updates,
      test_num_updates=FLAGS.test_num_updates, hidden=tuple(int(h) for h in FLAGS.hidden),
      family=FLAGS.family, ranges=ranges, seed=FLAGS.seed,
      iterations_per_run=FLAGS.iterations_per_run)


def flag_value(settings: run_settings.Settings, name: str):
  """The value of a model flag in `settings` (range flags live in settings.ranges)."""
  if name in RANGE_FLAGS:
    return getattr(settings.ranges, RANGE_FLAGS[name][0])
  if name == 'noise_std':
    return settings.ranges.noise_std
  return getattr(settings, name)


def evaluation_settings(requested: run_settings.Settings, saved: run_settings.Settings,
                        path: str) -> run_settings.Settings:
  """The checkpoint's settings (`saved`), with --test_num_updates if given; in
  eval and plot modes, each other model flag given must agree with them."""
  for name in SETTINGS_FLAGS:
    if given(name) and name != 'test_num_updates':
      asked, trained = flag_value(requested, name), flag_value(saved, name)
      if asked != trained:
        hint = EVAL_HINTS.get(name, 'a checkpoint is evaluated with the settings it was '
                                    'trained with')
        raise CommandError(f'--{name}={asked}: {path} was trained with {name}={trained}; {hint}')
  if given('test_num_updates'):
    saved = dataclasses.replace(saved, test_num_updates=FLAGS.test_num_updates)
  return saved


# --------------------------------------------------------------------- modes --

def run_model(settings: run_settings.Settings):
  """all = train, then eval, then plot; or one of them: one model of the flags' settings."""
  if FLAGS.exp_name:
    path = os.path.join(FLAGS.logdir, FLAGS.exp_name)
  elif FLAGS.resume:
    path = checkpoints.find_run(FLAGS.logdir, settings)
  else:
    path = os.path.join(FLAGS.logdir, run_settings.experiment_name(settings))
  if FLAGS.mode in ('all', 'train'):
    training.train(settings, path, FLAGS.resume, FLAGS.print_interval, FLAGS.save_interval)
  if FLAGS.mode == 'train':
    return
  trained = checkpoints.load_settings(path)
  saved = evaluation_settings(settings, trained, path)
  eval_ks = [int(k) for k in FLAGS.eval_k] or [saved.K]
  run_settings.check_resources(saved, FLAGS.mode in TRAINING_MODES, eval_ks, FLAGS.num_eval_tasks)
  alpha = saved.alpha if FLAGS.eval_alpha is None else FLAGS.eval_alpha
  # Files named by their protocol: another one never replaces the report's.
  names = {k: evaluation.results_name(trained, path, k, FLAGS.num_eval_tasks, FLAGS.eval_seed,
                                      alpha, saved.test_num_updates) for k in eval_ks}
  if FLAGS.mode in ('all', 'eval'):
    for k in eval_ks:
      stats = evaluation.evaluate(saved, path, k, FLAGS.num_eval_tasks, FLAGS.eval_seed, alpha,
                                  name=names[k], keep_same=True)
      evaluation.print_summary(stats, k)
  if FLAGS.mode in ('all', 'plot'):
    os.makedirs(run_figures_dir(), exist_ok=True)
    for k in eval_ks:   # named by its protocol too: <run>_K10.png, <run>_K10_5tasks.png
      protocol = names[k][len('eval_'):]
      figure = os.path.join(run_figures_dir(), f'{os.path.basename(path)}_{protocol}.png')
      run_figure.plot(saved, path, k, FLAGS.eval_seed, alpha, figure, names[k])


def train_jobs(jobs):
  scheduler.train_models(jobs, FLAGS.print_interval, FLAGS.save_interval, FLAGS.workers)


RUNS = {   # mode -> the one function that runs it, given the flags' settings
    'all': run_model, 'train': run_model, 'eval': run_model, 'plot': run_model,
    'benchmark': lambda settings: benchmark.run(settings, FLAGS.benchmark_repeats,
                                                FLAGS.benchmark_seconds, FLAGS.logdir),
    'report': lambda _: report_modes.report(FLAGS.logdir, FLAGS.img_dir, FLAGS.readme,
                                          FLAGS.num_eval_tasks, FLAGS.eval_seed, FLAGS.workers,
                                          STARTED),
    'reproduce': lambda _: report_modes.reproduce(
        FLAGS.logdir, if_given('img_dir'), if_given('readme'), FLAGS.num_eval_tasks,
        FLAGS.eval_seed, FLAGS.print_interval, FLAGS.save_interval, FLAGS.workers),
    'point': lambda _: train_jobs(study_points.training_jobs([FLAGS.point], FLAGS.logdir)),
    'study': lambda _: train_jobs(study_points.training_jobs(list(study_points.POINTS), FLAGS.logdir)),
    'points': lambda _: print('\n'.join(study_points.POINTS)),
    'ceiling': lambda _: report_modes.ceiling(FLAGS.logdir, FLAGS.num_eval_tasks, FLAGS.eval_seed,
                                            FLAGS.workers),
    'redraw': lambda _: (report_modes.redraw_figures(FLAGS.figure, FLAGS.logdir, FLAGS.img_dir)
                         if given('figure') else
                         report_modes.redraw(FLAGS.logdir, FLAGS.img_dir, FLAGS.readme)),
}


def run():
  validate_flags()
  settings = settings_from_flags()
  if FLAGS.mode in REPORT_MODES:    # before anything is evaluated or trained
    report_modes.check_report_memory(FLAGS.num_eval_tasks)
  if FLAGS.mode in TRAINING_MODES:
    run_settings.check_resources(settings, training=True)
  RUNS[FLAGS.mode](settings)


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; flags look like --name=value')
  try:
    with interrupts.recording():    # the work checks between session runs
      run()
      interrupts.check()            # a signal that came after the last check
  except CommandError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(e.exit_code)
  except (MemoryError, training.tf.errors.ResourceExhaustedError) as e:
    sys.exit(f'error: out of memory ({utils.first_line(e) or "MemoryError"}); ask for less '
             '(--num_eval_tasks, --eval_k, --K, --meta_batch_size, --hidden)')
  except OSError as e:
    sys.exit(f'error: {e.filename or "a file"}: {e.strerror or e}; '
             f'{OS_ADVICE.get(e.errno, "")}files already written are complete (each is written '
             'to a temporary name, then renamed)')


def run_app():
  """app.run(main), with output that any locale can print (a character it
  cannot encode becomes "?") and one line if the output cannot be written
  (a full disk behind `> file`)."""
  for stream in (sys.stdout, sys.stderr):
    stream.reconfigure(errors='replace')
  try:
    try:
      app.run(main)    # main turns the work's OSErrors into one line; these are the output's
    finally:
      sys.stdout.flush()
  except OSError as e:
    print(f'error: the output cannot be written ({e.strerror})', file=sys.stderr, flush=True)
    os._exit(1)   # the interpreter's own flush at exit would fail again, with a traceback


if __name__ == '__main__':
  run_app()
