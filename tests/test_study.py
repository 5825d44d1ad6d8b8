"""The robustness study: test protocols, normalised errors, the point registry, the report."""
import dataclasses
import math
import os
import re

import numpy as np
import pytest

import FunGenerator
from run import evaluation
from run import scheduler
import helpers
from common import fileio
from publish import checks
from run import settings as run_settings
from study import findings
from study import points
from study import protocols
from study import report
from study import tables
from study import verdicts
import utils

tf = utils.quiet_tensorflow()


def contains(text: str, number: str) -> bool:
  """`number` stands in `text` as a whole number ('8%' is not found in '78%')."""
  return re.search(r'(?<![\d.])' + re.escape(number), text) is not None


BASE = dataclasses.replace(helpers.TINY, K=10, meta_iterations=100, iterations_per_run=50)


def test_protocol_regions_and_noise_free_grids():
  point = points.Point('p', 'noisy, shifted', ranges={'x': (-4.0, 6.0), 'noise_std': 0.5})
  tasks = protocols.protocol_tasks(point, k=7, num_tasks=50, seed=3)
  assert tasks['support_full'][0].min() >= -4 and tasks['support_full'][0].max() <= 6
  assert tasks['support_early'][0].max() <= 4.0        # first 80% of [-4, 6]
  assert tasks['out_of_sample'][0].min() == 4.0 and tasks['out_of_sample'][0].max() == 6.0
  assert tasks['far'][0].min() == 6.0 and tasks['far'][0].max() == 11.0
  family = FunGenerator.FAMILIES['sinusoid']
  for region in protocols.regions(point.task_ranges):
    x, y = tasks[region]
    np.testing.assert_allclose(y, family.evaluate(x, tasks['params']))
  x, y = tasks['support_full']
  assert np.std(y - family.evaluate(x, tasks['params'])) == pytest.approx(0.5, rel=0.1)
  np.testing.assert_allclose(tasks['variance'], np.var(tasks['in_range'][1][..., 0], axis=1))


def test_statistics_count_diverged_tasks_as_failures():
  stats = protocols.nmse_statistics(np.array([0.05, 0.2, np.nan, 0.01]))
  with_before = protocols.nmse_statistics(np.array([0.05, 200.0, 0.3, 0.01]),
                                          np.array([1.0, 1.0, 1.0, 1.0]))
  assert with_before['n_diverged'] == 1                  # 200 times the error before
  assert with_before['mean_not_diverged'] == pytest.approx(0.12)
  assert stats['fraction_good'] == 0.5
  assert stats['median'] == pytest.approx(0.125)       # median of 0.01, 0.05, 0.2, inf
  assert stats['mean_not_diverged'] == pytest.approx(0.26 / 3) and stats['n_diverged'] == 1
  assert stats['n_nonfinite'] == 1 and stats['n_tasks'] == 4


def test_percentile_tasks():
  values = np.random.RandomState(0).permutation(101).astype(float)
  picked = protocols.percentile_tasks(values)
  assert [values[i] for i in picked] == [10.0, 50.0, 90.0]


def test_zero_network_error_is_mean_square_over_variance():
  """With theta = 0 the network predicts 0 before adaptation, so the
  normalised MSE of each region is mean(f^2) / var(f over the x range)."""
  point = points.SETTING_POINTS[0]
  tasks = protocols.protocol_tasks(point, k=5, num_tasks=6, seed=0)
  model = run_settings.build_model(dataclasses.replace(BASE,
                                                      test_num_updates=protocols.FINAL_STEP))
  with tf.Session() as sess:
    sess.run([v.initializer for v in model.theta.values()])
    sess.run([tf.assign(v, tf.zeros_like(v)) for v in model.theta.values()])
    errors, curves = protocols.normalised_errors(sess, model, tasks, alpha=0.01)
  for protocol, (_, region) in protocols.MEASURED.items():
    expected = np.mean(tasks[region][1][..., 0] ** 2, axis=1) / tasks['variance']
    np.testing.assert_allclose(errors[protocol][0], expected, rtol=1e-5)
  np.testing.assert_array_equal(curves[0], 0.0)
  assert not np.allclose(curves[1], 0.0)      # one step moves the output bias


def test_phase_moved_by_pi_is_the_negated_task():
  """A sin(x - phi - pi) = -A sin(x - phi): Fig3's tasks are the paper's, negated."""
  x = np.linspace(-5, 5, 11).reshape(1, 11, 1)
  params = {'amplitude': np.array([2.0]), 'phase': np.array([0.7]),
            'frequency': np.array([FunGenerator.PAPER_FREQUENCY])}
  family = FunGenerator.FAMILIES['sinusoid']
  moved = family.evaluate(x, {**params, 'phase': params['phase'] + math.pi})
  np.testing.assert_allclose(moved, -family.evaluate(x, params), atol=1e-12)


def test_points_that_are_the_same_distribution_share_a_model():
  def folder(name):
    return points.model_dir('logs', points.model_settings(points.POINTS[name], 'maml', BASE))
  for axis in ('amplitude', 'phase', 'frequency', 'x_shift', 'noise'):
    first = points.AXES[axis].magnitudes[0]
    assert folder(f'{axis}_{first:g}') == folder('Fig1')
  assert folder('Fig2') == folder('amplitude_10')
  assert folder('Fig4') == folder('x_shift_1')
  assert folder('Fig7') == folder('mix_1')
  assert folder('Fig7_one_frequency') == folder('mix_one_frequency_1')
  assert folder('Fig1_seed2') == folder('amplitude_5_seed2')
  for m in points.TUNED_AMPLITUDES:
    assert folder(f'amplitude_{m}_tuned') == folder(f'amplitude_{m}')
  # Per seed, 9 sweep points reuse a setting's, a control's or the paper's
  # model (5 axis origins, Fig2, Fig4, Fig7, Fig7_one_frequency); the tuned
  # checks reuse sweep models (seed 1; the mechanisms' for seeds 1 and 2).
  shared = 2 * 9 + len(points.TUNED_AMPLITUDES) + 2 * len(points.TUNED_NAMES)
  assert len({folder(n) for n in points.POINTS}) == len(points.POINTS) - shared


def test_mix_zero_is_the_sinusoid():
  generator = FunGenerator.TaskGenerator('sum', dataclasses.replace(
      FunGenerator.TaskRanges(), mix=(0.0, 0.0)), seed=0)
  x, y, params = generator.sample(3, 9)
  sine = {'amplitude': params['amplitude1'], 'phase': params['phase1'],
          'frequency': params['frequency1']}
  np.testing.assert_allclose(y, FunGenerator.FAMILIES['sinusoid'].evaluate(x, sine))


def test_point_training_and_report(tmp_path, monkeypatch):
  """A two-point sweep (two seeds) and one setting, trained briefly, evaluated,
  then reported from the results files alone."""
  axis = points.Axis('upper bound of A', (5, 10),
                     lambda m: ('sinusoid', {'amplitude': (0.1, float(m))}))
  sweep = [points.Point(f'amplitude_{m}', '', 'sinusoid', axis.point(m)[1], 'amplitude', m)
           for m in axis.magnitudes]
  second_seed = [dataclasses.replace(p, name=p.name + points.SEED_SUFFIX, axis=None,
                                     training={'seed': points.SECOND_SEED}) for p in sweep]
  registry = {p.name: p for p in [points.SETTING_POINTS[0]] + sweep + second_seed}
  canonical = {'Fig1': 'Fig1', 'amplitude_5': 'Fig1', 'amplitude_10': 'amplitude_10'}
  for module in (points, verdicts):
    monkeypatch.setattr(module, 'CANONICAL', canonical)
  for module in (points, report, tables, findings):
    monkeypatch.setattr(module, 'AXES', {'amplitude': axis})
    if hasattr(module, 'POINTS'):
      monkeypatch.setattr(module, 'POINTS', registry)
  for module in (report, tables):
    monkeypatch.setattr(module, 'SHAPE_POINTS', ())
  logdir = str(tmp_path / 'logs')
  scheduler.train_models(points.training_jobs(list(registry), logdir, BASE), print_interval=100,
                       save_interval=100)
  readme = tmp_path / 'README.md'
  helpers.write_readme(str(readme), ['robustness_boundary', 'robustness_verdicts',
                                      'robustness_training_time', 'mechanism_training_time'])
  img = tmp_path / 'img'
  protocols.evaluate(logdir, num_tasks=20, seed=4, base=BASE)
  results, ceilings, _ = checks.study_results(logdir, BASE)
  report.report(logdir, str(img), str(readme), results, ceilings, base=BASE)

  assert sorted(os.listdir(str(img))) == ['Fig1.png', 'how_far.png', 'robustness_summary.png']
  assert '\nold\n' not in readme.read_text()
  saved = fileio.read_json(os.path.join(logdir, 'robustness', 'points', 'amplitude_10.json'))
  assert set(saved['sources']) == set(points.ROLES)
  assert saved['sources']['maml']['step'] == BASE.meta_iterations
  assert saved['results']['10']['maml']['alpha'] == BASE.alpha     # MAML adapts with its alpha
  row = saved['results']['10']['pretrain']
  stats = row['protocols']['time_series'][str(protocols.FINAL_STEP)]
  assert stats['n_tasks'] == 20 and 0 <= stats['fraction_good'] <= 1
  with open(os.path.join(logdir, 'robustness', 'points', report.ALL_POINTS_TABLE)) as f:
    assert contains(f.read(), tables.stat_cell(stats))     # the sweep table
  with open(os.path.join(logdir, 'robustness', 'points', report.ALL_POINTS_TABLE)) as f:
    details = f.read().split('## Every statistic')[1]
  assert len(details.splitlines()) == 4 + len(registry) * 3 * 2 * len(protocols.MEASURED)
  # The per-task file holds each task's parameters and the family fit's errors.
  rows = fileio.read_csv(os.path.join(logdir, 'robustness', 'points', 'amplitude_10_tasks.csv'))
  assert len(rows) == 20 and 0.1 <= float(rows[0]['amplitude']) <= 10
  assert float(rows[0]['family_fit_in_range']) < 1e-6     # noise-free sinusoids: exact
  # Fig1 and amplitude_5 are one distribution: the same numbers.
  first = fileio.read_json(os.path.join(logdir, 'robustness', 'points', 'Fig1.json'))
  same = fileio.read_json(os.path.join(logdir, 'robustness', 'points', 'amplitude_5.json'))
  assert first['results'] == same['results']


def test_settings_table_and_findings_read_the_statistics():
  """Synthetic per-task errors for every point: the text shows their fractions."""
  rng = np.random.RandomState(0)
  final = protocols.FINAL_STEP    # every model chose it: the headline is 20 steps
  errors = {name: {k: {role: {p: {s: rng.lognormal(-1.5, 1.5, 40) for s in protocols.REPORTED_STEPS}
                              for p in protocols.MEASURED} for role in points.ROLES}
                   for k in protocols.EVAL_KS} for name in points.POINTS}
  stats = {name: protocols.summary({k: {role: protocols.Evaluation(0.01, final, e, [], {})
                                        for role, e in by_role.items()}
                                    for k, by_role in by_k.items()})
           for name, by_k in errors.items()}
  for by_k in stats.values():
    by_k[protocols.FAMILY_FIT] = {str(k): {p: protocols.nmse_statistics(rng.lognormal(-3, 1, 40))
                                           for p in protocols.MEASURED}
                                  for k in protocols.EVAL_KS}

  def percent(name, role, protocol='in_range'):
    values = errors[name][protocols.FIGURE_K][role][protocol][final]
    return f'{100 * np.mean(values < protocols.GOOD_NMSE):.0f}%'

  text = findings.findings(stats)
  for name, role, protocol in (('Fig1', 'maml', 'in_range'), ('Fig1', 'pretrain', 'in_range'),
                               ('Fig6', 'maml', 'in_range'), ('linear', 'maml', 'far')):
    assert contains(text, percent(name, role, protocol))
  for protocol in protocols.PROTOCOLS:
    table = tables.settings_table(stats, protocol=protocol)
    assert len(table.splitlines()) == 2 + len(points.SETTING_POINTS)
  assert contains(tables.settings_table(stats, protocol='far'), percent('Fig3', 'standard', 'far'))


WORKS, FAILS = {'median': 0.01, 'median_ci95': [0.008, 0.012], 'fraction_good': 0.9}, \
    {'median': 0.5, 'median_ci95': [0.4, 0.6], 'fraction_good': 0.1}


@pytest.mark.parametrize('fails_at, expected', [
    ({20: 1}, 'up to 10 (not 20)'),              # one seed fails at 20
    ({10: 5, 20: 5}, "only the paper's (not 10)"),
    ({5: 1}, "not even the paper's"),
    ({}, 'whole sweep (to 80)'),
])
def test_the_boundary_is_the_last_magnitude_where_every_seed_works(fails_at, expected):
  """fails_at: {magnitude: how many seeds fail there}; the rest work."""
  stats = {}
  for m in points.AXES['amplitude'].magnitudes:
    name = points.sweep_name('amplitude', m)
    for i, seed in enumerate(points.seeds_of(name)):
      row = FAILS if i < fails_at.get(m, 0) else WORKS
      stats[points.seed_name(name, seed)] = {str(protocols.FIGURE_K): {'maml': {
          protocols.CHOSEN: {'in_range': row}}}}
  assert verdicts.boundary_text(stats, 'amplitude') == expected
  most = verdicts.boundary_text(stats, 'amplitude', rule='majority')
  assert most == ('whole sweep (to 80)' if max(fails_at.values(), default=0) < 3 else expected)


def test_step_size_rule_prefers_fewer_diverged_tasks_then_lower_mean():
  nan = float('nan')
  errors = {0.0: np.array([1.0, 1.0, 1.0]), 0.01: np.array([0.1, 0.1, nan]),
            0.1: np.array([0.5, 0.5, 0.5]), 0.3: np.array([0.4, 0.6, 0.6])}
  assert evaluation.lowest_mean_step_size(errors) == 0.1
  errors[0.01] = np.array([0.1, 0.1, 0.2])
  assert evaluation.lowest_mean_step_size(errors) == 0.01
