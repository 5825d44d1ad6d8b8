"""The robustness study: test protocols, normalised errors, the point registry, the report."""
import dataclasses
import math
import os

import numpy as np
import pytest

import experiment
import FunGenerator
import robustness
import utils

tf = utils.quiet_tensorflow()
BASE = {'method': 'maml', 'first_order': False, 'K': 10, 'meta_batch_size': 4,
        'meta_iterations': 100, 'alpha': 0.01, 'beta': 0.001, 'num_updates': 1,
        'test_num_updates': 10, 'hidden': [8, 8], 'family': 'sinusoid',
        'ranges': {}, 'seed': 1, 'iterations_per_run': 50}


def test_protocol_regions_and_noise_free_grids():
  point = robustness.Point('p', 'noisy, shifted', ranges={'x': (-4.0, 6.0), 'noise_std': 0.5})
  tasks = robustness.protocol_tasks(point, k=7, num_tasks=50, seed=3)
  assert tasks['support_full'][0].min() >= -4 and tasks['support_full'][0].max() <= 6
  assert tasks['support_early'][0].max() <= 4.0        # first 80% of [-4, 6]
  assert tasks['out_of_sample'][0].min() == 4.0 and tasks['out_of_sample'][0].max() == 6.0
  assert tasks['far'][0].min() == 6.0 and tasks['far'][0].max() == 11.0
  family = FunGenerator.FAMILIES['sinusoid']
  for region in robustness.regions(experiment.task_ranges(robustness.distribution(point))):
    x, y = tasks[region]
    np.testing.assert_allclose(y, family.evaluate(x, tasks['params']))
  x, y = tasks['support_full']
  assert np.std(y - family.evaluate(x, tasks['params'])) == pytest.approx(0.5, rel=0.1)
  np.testing.assert_allclose(tasks['variance'], np.var(tasks['in_range'][1][..., 0], axis=1))


def test_statistics_count_diverged_tasks_as_failures():
  stats = robustness.nmse_statistics(np.array([0.05, 0.2, np.nan, 0.01]))
  assert stats['fraction_good'] == 0.5
  assert stats['median'] == pytest.approx(0.125)       # median of 0.01, 0.05, 0.2, inf
  assert stats['mean'] == pytest.approx(0.26 / 3)
  assert stats['n_nonfinite'] == 1 and stats['n_tasks'] == 4


def test_percentile_tasks():
  values = np.random.RandomState(0).permutation(101).astype(float)
  picked = robustness.percentile_tasks(values)
  assert [values[i] for i in picked] == [10.0, 50.0, 90.0]


def test_zero_network_error_is_mean_square_over_variance():
  """With theta = 0 the network predicts 0 before adaptation, so the
  normalised MSE of each region is mean(f^2) / var(f over the x range)."""
  point = robustness.SETTINGS[0]
  tasks = robustness.protocol_tasks(point, k=5, num_tasks=6, seed=0)
  model = experiment.build_model({**BASE, 'test_num_updates': robustness.FINAL_STEP})
  with tf.Session() as sess:
    sess.run([v.initializer for v in model.theta.values()])
    sess.run([tf.assign(v, tf.zeros_like(v)) for v in model.theta.values()])
    errors, curves = robustness.normalised_errors(sess, model, tasks, alpha=0.01)
  for protocol, (_, region) in robustness.MEASURED.items():
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
    return robustness.model_dir('logs', robustness.model_settings(robustness.POINTS[name],
                                                                  BASE, 'maml'))
  for axis in ('amplitude', 'phase', 'frequency', 'x_shift', 'noise'):
    first = robustness.AXES[axis].magnitudes[0]
    assert folder(f'{axis}_{first:g}') == folder('Fig1')
  assert folder('Fig2') == folder('amplitude_10')
  assert folder('Fig4') == folder('x_shift_1')
  assert folder('Fig7') == folder('mix_1')
  for m in robustness.TUNED_AMPLITUDES:
    assert folder(f'amplitude_{m}_tuned') == folder(f'amplitude_{m}')
  # 8 points reuse a setting's or the paper's model, the 5 seed-2 sweep origins
  # share one model, the tuned checks reuse sweep models.
  shared = 8 + 4 + len(robustness.TUNED_AMPLITUDES)
  assert len({folder(n) for n in robustness.POINTS}) == len(robustness.POINTS) - shared


def test_mix_zero_is_the_sinusoid():
  generator = FunGenerator.TaskGenerator('sum', dataclasses.replace(
      FunGenerator.TaskRanges(), mix=(0.0, 0.0)), seed=0)
  x, y, params = generator.sample(3, 9)
  sine = {'amplitude': params['amplitude1'], 'phase': params['phase1'],
          'frequency': params['frequency1']}
  np.testing.assert_allclose(y, FunGenerator.FAMILIES['sinusoid'].evaluate(x, sine))


def test_point_training_and_report(tmp_path, monkeypatch):
  """A two-point sweep (two seeds) and one setting, trained briefly, through the report."""
  axis = robustness.Axis('upper bound of A', (5, 10),
                         lambda m: ('sinusoid', {'amplitude': (0.1, float(m))}))
  sweep = [robustness.Point(f'amplitude_{m}', '', 'sinusoid', axis.point(m)[1], 'amplitude', m)
           for m in axis.magnitudes]
  second_seed = [dataclasses.replace(p, name=p.name + robustness.SEED_SUFFIX, axis=None,
                                     training={'seed': robustness.SECOND_SEED}) for p in sweep]
  points = {p.name: p for p in [robustness.SETTINGS[0]] + sweep + second_seed}
  monkeypatch.setattr(robustness, 'AXES', {'amplitude': axis})
  monkeypatch.setattr(robustness, 'POINTS', points)
  logdir = str(tmp_path / 'logs')
  for name in points:
    robustness.train_point(name, BASE, logdir, print_interval=100, save_interval=100)
  readme = tmp_path / 'README.md'
  readme.write_text(''.join(f'<!-- {s} -->\nold\n<!-- /{s} -->\n' for s in (
      'robustness_sweep', 'robustness_boundary', 'robustness_training_time')))
  img = tmp_path / 'img'
  robustness.report(BASE, logdir, str(img), str(readme), num_tasks=20, seed=4)

  assert sorted(os.listdir(str(img))) == ['Fig1.png', 'robustness_summary.png']
  assert 'old' not in readme.read_text()
  saved = utils.read_json(os.path.join(logdir, 'robustness', 'points', 'amplitude_10.json'))
  row = saved['results']['10']['pretrain']
  assert row['alpha'] in robustness.paper.BASELINE_ALPHAS
  stats = row['protocols']['time_series'][str(robustness.FINAL_STEP)]
  assert stats['n_tasks'] == 20 and 0 <= stats['fraction_good'] <= 1
  assert f"{stats['median']:.3g} ({100 * stats['fraction_good']:.0f}%)" in readme.read_text()
  with open(os.path.join(logdir, 'robustness', 'points', robustness.ALL_POINTS_TABLE)) as f:
    assert len(f.read().splitlines()) == 4 + len(points) * 3 * 2 * len(robustness.MEASURED)
  # Fig1 and amplitude_5 are one distribution: the same numbers.
  first = utils.read_json(os.path.join(logdir, 'robustness', 'points', 'Fig1.json'))
  same = utils.read_json(os.path.join(logdir, 'robustness', 'points', 'amplitude_5.json'))
  assert first['results'] == same['results']


def test_settings_table_and_findings_read_the_statistics():
  """Synthetic per-task errors for every point: the text shows their fractions."""
  rng = np.random.RandomState(0)
  errors = {name: {k: {role: {p: {s: rng.lognormal(-1.5, 1.5, 40) for s in robustness.REPORTED_STEPS}
                              for p in robustness.MEASURED} for role in robustness.ROLES}
                   for k in robustness.EVAL_KS} for name in robustness.POINTS}
  stats = {name: robustness.summary({k: {role: robustness.Evaluation(0.01, e, [], {})
                                         for role, e in by_role.items()}
                                     for k, by_role in by_k.items()})
           for name, by_k in errors.items()}
  final = robustness.FINAL_STEP

  def percent(name, role, protocol='in_range'):
    values = errors[name][robustness.FIGURE_K][role][protocol][final]
    return f'{100 * np.mean(values < robustness.GOOD_NMSE):.0f}%'

  text = robustness.findings(stats)
  for name, role, protocol in (('Fig1', 'maml', 'in_range'), ('Fig1', 'pretrain', 'time_series'),
                               ('Fig6', 'maml', 'in_range'), ('linear', 'maml', 'far')):
    assert percent(name, role, protocol) in text
  median = np.median(errors['Fig6'][robustness.FIGURE_K]['maml']['in_range'][final])
  assert f'{median:.2f}' in text
  table = robustness.settings_table(stats)
  assert len(table.splitlines()) == 2 + len(robustness.SETTINGS) * len(robustness.ROLES)
  assert percent('Fig3', 'standard', 'far') in table


@pytest.mark.parametrize('medians, expected', [
    ((0.01, 0.05, 0.2, 0.01, 0.3), 'up to 10 (not at 20)'),
    ((0.01, 0.5, 0.01, 0.01, 0.01), 'only at 5 (not at 10)'),
    ((0.5,) * 5, 'nowhere'),
    ((0.01,) * 5, 'over the whole sweep (up to 80)'),
])
def test_how_far_maml_works_stops_at_the_first_failure(medians, expected):
  step = str(robustness.FINAL_STEP)
  stats = {f'amplitude_{m:g}': {str(robustness.FIGURE_K): {'maml': {'protocols': {
      'in_range': {step: {'median': median}}}}}}
           for m, median in zip(robustness.AXES['amplitude'].magnitudes, medians)}
  assert robustness.last_passing(stats, 'amplitude', 'in_range', robustness.works) == expected
