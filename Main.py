"""Command line for MAML few-shot regression: train, evaluate, plot, benchmark.

  python Main.py                      # the paper's K=10 sinusoid MAML: train, eval, figure
  python Main.py --mode=eval --K=10 --eval_k=5,10,20
  python Main.py --method=pretrain    # the pretrained baseline

Flags are read here only; the library modules take explicit arguments.
"""
import dataclasses
import math
import os
import sys

from absl import app
from absl import flags

import experiment
from experiment import CommandError
import FunGenerator
import paper
import robustness
import utils

MODES = ('all', 'train', 'eval', 'plot', 'benchmark', 'report', 'reproduce', 'point', 'points')
METHODS = ('maml', 'pretrain', 'oracle')
DEFAULT_RANGES = experiment.DEFAULT_RANGES

FLAGS = flags.FLAGS
flags.DEFINE_string('mode', 'all',
                  'all = train, then eval, then plot; report = regenerate every README figure '
                  'and table from the checkpoints in <logdir>; reproduce = train all those '
                  'models, then report; point = train the models of one robustness --point; '
                  f'points = list the point names. One of {", ".join(MODES)}.')
flags.DEFINE_string('method', 'maml',
                  'maml: meta-learn theta; pretrain: one network regressed on all '
                  'tasks jointly; oracle: pretrain with the task parameters as inputs.')
flags.DEFINE_bool('first_order', False, 'First-order MAML: no gradient through the inner gradient.')
flags.DEFINE_integer('K', 10, 'K: points per task in the support set a and in the query set b.')
flags.DEFINE_integer('meta_batch_size', 25, 'Tasks per meta-iteration.')
flags.DEFINE_integer('meta_iterations', 70000, 'Meta-iterations (Adam steps of size beta).')
flags.DEFINE_float('alpha', 0.01, 'alpha: inner step size (the original code\'s 1e-3 default is a trap).')
flags.DEFINE_float('beta', 0.001, 'beta: meta step size, the Adam learning rate.')
flags.DEFINE_integer('num_updates', 1, 'Inner gradient steps at meta-training.')
flags.DEFINE_integer('test_num_updates', 10, 'Inner gradient steps at meta-test (0..N are evaluated).')
flags.DEFINE_list('hidden', ['40', '40'], 'Hidden layer sizes.')
flags.DEFINE_string('family', 'sinusoid', f'Task family, one of {sorted(FunGenerator.FAMILIES)}.')
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
flags.DEFINE_integer('seed', 1, 'Seed of initialisation and training tasks.')
flags.DEFINE_integer('eval_seed', 12345, 'Seed of the held-out evaluation tasks.')
flags.DEFINE_integer('num_eval_tasks', 600, 'Held-out tasks per evaluation.')
flags.DEFINE_list('eval_k', [], 'K values to evaluate (default: --K).')
flags.DEFINE_float('eval_alpha', None, 'Test-time step size (default: --alpha).')
flags.DEFINE_string('logdir', 'logs', 'Folder of the experiment folders.')
flags.DEFINE_string('exp_name', '', 'Experiment folder name (default: built from the settings).')
flags.DEFINE_string('img_dir', 'Img', 'Folder of the figures.')
flags.DEFINE_string('readme', 'README.md', 'README whose generated tables --mode=report rewrites.')
flags.DEFINE_bool('resume', False, 'Continue training from the last checkpoint in the experiment folder.')
flags.DEFINE_integer('iterations_per_run', 100, 'Meta-iterations per session.run (one data transfer).')
flags.DEFINE_integer('print_interval', 5000, 'Meta-iterations between progress lines.')
flags.DEFINE_integer('save_interval', 10000, 'Meta-iterations between checkpoints.')
flags.DEFINE_integer('benchmark_repeats', 3, 'Benchmark: timed repeats per case (the median is reported).')
flags.DEFINE_float('benchmark_seconds', 4.0, 'Benchmark: seconds per timed repeat.')
POSITIVE_INTEGERS = ('K', 'meta_batch_size', 'meta_iterations', 'num_updates', 'test_num_updates',
                     'num_eval_tasks', 'iterations_per_run', 'print_interval', 'save_interval',
                     'benchmark_repeats')
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


def validate_flags():
  """One-line errors for values the run cannot use, before anything is touched."""
  check_choice('mode', MODES)
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
    check_choice('point', sorted(robustness.POINTS))
  for name in ('hidden', 'eval_k'):
    if not all(v.isdigit() and int(v) >= 1 for v in getattr(FLAGS, name)):
      raise CommandError(f'--{name}={",".join(getattr(FLAGS, name))}: must be '
                         'comma-separated integers >= 1')


def settings_from_flags() -> dict:
  """Every setting of a run, as stored in config.json."""
  ranges = dataclasses.replace(
      DEFAULT_RANGES, x=parse_range('x_range'), noise_std=FLAGS.noise_std,
      **{name: parse_range(name) for name in RANGE_FLAGS})
  return utils.jsonable({
      'method': FLAGS.method, 'first_order': FLAGS.first_order, 'K': FLAGS.K,
      'meta_batch_size': FLAGS.meta_batch_size,
      'meta_iterations': FLAGS.meta_iterations, 'alpha': FLAGS.alpha,
      'beta': FLAGS.beta, 'num_updates': FLAGS.num_updates,
      'test_num_updates': FLAGS.test_num_updates,
      'hidden': [int(h) for h in FLAGS.hidden], 'family': FLAGS.family,
      'ranges': dataclasses.asdict(ranges), 'seed': FLAGS.seed,
      'iterations_per_run': FLAGS.iterations_per_run,
  })


# -------------------------------------------------------------------- main --

def run():
  validate_flags()
  settings = settings_from_flags()
  if FLAGS.mode == 'points':
    print('\n'.join(robustness.POINTS))
    return
  if FLAGS.mode == 'point':
    robustness.train_point(FLAGS.point, settings, FLAGS.logdir, FLAGS.print_interval,
                           FLAGS.save_interval)
    return
  if FLAGS.mode in ('report', 'reproduce'):
    if FLAGS.mode == 'reproduce':
      paper.train_all(settings, FLAGS.logdir, FLAGS.print_interval, FLAGS.save_interval)
      for name in robustness.POINTS:
        robustness.train_point(name, settings, FLAGS.logdir, FLAGS.print_interval,
                               FLAGS.save_interval)
    paper.report(FLAGS.logdir, FLAGS.img_dir, FLAGS.readme, FLAGS.num_eval_tasks,
                 FLAGS.eval_seed)
    robustness.report(settings, FLAGS.logdir, FLAGS.img_dir, FLAGS.readme,
                      FLAGS.num_eval_tasks, FLAGS.eval_seed)
    return
  if FLAGS.mode == 'benchmark':
    experiment.benchmark(settings, os.path.join(FLAGS.logdir, 'benchmark.json'),
                         FLAGS.benchmark_repeats, FLAGS.benchmark_seconds)
    return
  path = os.path.join(FLAGS.logdir, FLAGS.exp_name or experiment.experiment_name(settings))
  if FLAGS.mode in ('all', 'train'):
    experiment.train(settings, path, FLAGS.resume, FLAGS.print_interval, FLAGS.save_interval)
  saved = experiment.load_settings(path)
  experiment.check_same(saved, settings, experiment.MODEL_KEYS, 'evaluate', path)
  eval_ks = [int(k) for k in FLAGS.eval_k] or [saved['K']]
  alpha = saved['alpha'] if FLAGS.eval_alpha is None else FLAGS.eval_alpha
  if FLAGS.mode in ('all', 'eval'):
    for k in eval_ks:
      stats = experiment.evaluate(saved, path, k, FLAGS.num_eval_tasks, FLAGS.eval_seed, alpha)
      experiment.print_summary(stats, k)
  if FLAGS.mode in ('all', 'plot'):
    os.makedirs(FLAGS.img_dir, exist_ok=True)
    for k in eval_ks:
      figure = os.path.join(FLAGS.img_dir, f'{os.path.basename(path)}_K{k}.png')
      experiment.plot(saved, path, k, FLAGS.eval_seed, alpha, figure)


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; flags look like --name=value')
  try:
    run()
  except CommandError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main)
