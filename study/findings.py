"""The study's findings in words, every number read from its results files:
per section, and the earlier study's claims one by one with their verdicts.
"""
from typing import Dict, List

import FunGenerator
from study.points import (AXES, CHECK_ITERATIONS, CONTROL_POINTS, FULL_PHASE_RUNS, POINTS,
                          ROLES, SEED_RUNS, SEED_SUFFIX, SETTING_POINTS, STANDARD,
                          TUNED_AMPLITUDES, TUNED_SUFFIX, sweep_name)
from study.protocols import (EVAL_KS, FAMILY_FIT, FIGURE_K, FINAL_STEP, SPLIT_FRACTION,
                             beats_baseline)
from study.tables import (final, final_alpha, good, overall, per_seed, percent, seed_verdicts,
                          share, span)


UNSEEN = f'the never-seen last {100 * (1 - SPLIT_FRACTION):.0f}% of the range'
PERIODIC_SETTINGS = tuple(p.name for p in SETTING_POINTS if p.family != 'linear')
WAVES = ('square', 'triangle', 'sawtooth')


def diverged(stats: Dict[str, dict], name: str, role: str = 'maml') -> str:
  """'a / b' diverged adaptations in range after FINAL_STEP steps, per training seed."""
  return ' / '.join(str(final(stats, name + suffix, role)['n_diverged'])
                    for _, suffix in SEED_RUNS if name + suffix in stats)


def both(stats: Dict[str, dict], name: str, protocol: str = 'in_range') -> str:
  """'works / borderline': MAML's verdict per training seed."""
  return ' / '.join(seed_verdicts(stats, name, protocol))


def ceiling_count(ceilings: Dict[str, dict], name: str, protocol: str = 'in_range') -> str:
  row = ceilings[name]['statistics'][protocol]
  return f"{round(row['fraction_good'] * row['n_tasks'])} of {row['n_tasks']}"


def fit_share(stats: Dict[str, dict], name: str, protocol: str = 'in_range') -> str:
  return percent(stats[name][FAMILY_FIT][str(FIGURE_K)][protocol]['fraction_good'])


def tuned_alpha_effect(stats: Dict[str, dict], amplitude: float) -> str:
  fixed, tuned = (sweep_name('amplitude', amplitude, suffix) for suffix in ('', TUNED_SUFFIX))
  return (f"amplitude bound {amplitude:g}: {good(stats, tuned, 'maml')} of tasks fit well "
          f"(alpha = {final_alpha(stats, tuned, 'maml'):g}, "
          f"{final(stats, tuned, 'maml')['n_diverged']} diverged) instead of "
          f"{good(stats, fixed, 'maml')} ({final(stats, fixed, 'maml')['n_diverged']} diverged)")


def findings(stats: Dict[str, dict]) -> str:
  """The earlier study's settings in words (K=FIGURE_K, FINAL_STEP steps, seeds 1 / 2)."""
  moved = [p.name for p in SETTING_POINTS[1:] if p.family == 'sinusoid']
  paper_model_worst = min(moved, key=lambda n: share(stats, n, 'standard'))
  far = max(share(stats, n, r, 'far') for n in PERIODIC_SETTINGS for r in ROLES)
  lines = [
      f"- **The paper's setting (Fig1).** MAML fits {per_seed(stats, 'Fig1', 'maml')} of the "
      f"{final(stats, 'Fig1', 'maml')['n_tasks']} tasks well in range and "
      f"{per_seed(stats, 'Fig1', 'maml', 'time_series')} on {UNSEEN}; the baseline "
      f"{per_seed(stats, 'Fig1', 'pretrain')} fine-tuned, "
      f"{percent(final(stats, 'Fig1', 'pretrain', step=0)['fraction_good'])} before.",
      f"- **Moved sinusoids ({', '.join(moved)}).** MAML meta-trained on each fits "
      + '; '.join(f"{n} {per_seed(stats, n, 'maml')}" for n in moved)
      + ' of tasks well in range. The paper\'s model tested there without retraining: '
      + '; '.join(f"{n} {good(stats, n, 'standard')}" for n in moved)
      + f" (worst {paper_model_worst}: {POINTS[paper_model_worst].title}).",
      f"- **Fig5** (frequency range): MAML works in range ({both(stats, 'Fig5')}) but not on "
      f"{UNSEEN} ({per_seed(stats, 'Fig5', 'maml', 'time_series')} fit well), where the family "
      f"fit to the same points fits {fit_share(stats, 'Fig5', 'time_series')}.",
      f"- **Fig6** (products, two frequencies): MAML fits {per_seed(stats, 'Fig6', 'maml')} "
      f"of tasks well in range (K={max(EVAL_KS)}: "
      f"{' / '.join(good(stats, n, 'maml', k=max(EVAL_KS)) for n in ('Fig6', 'Fig6_seed2'))}), "
      f"the baseline {per_seed(stats, 'Fig6', 'pretrain')}, the family fit "
      f"{fit_share(stats, 'Fig6')}. Why: see the controls under [Checks](#checks).",
      f"- **Fig7** (sums, two frequencies): in range {per_seed(stats, 'Fig7', 'maml')} "
      f"({both(stats, 'Fig7')}), on {UNSEEN} {per_seed(stats, 'Fig7', 'maml', 'time_series')}; "
      f"the same sums at one frequency (a single sinusoid, `Fig7_one_frequency`) "
      f"{per_seed(stats, 'Fig7_one_frequency', 'maml')} and "
      f"{per_seed(stats, 'Fig7_one_frequency', 'maml', 'time_series')}.",
      f"- **Lines.** MAML fits {per_seed(stats, 'linear', 'maml')} in range, "
      f"{per_seed(stats, 'linear', 'maml', 'time_series')} on {UNSEEN} and "
      f"{per_seed(stats, 'linear', 'maml', 'far')} far beyond it (median "
      f"{final(stats, 'linear', 'maml', 'far')['median']:.2f}); the baseline "
      f"{per_seed(stats, 'linear', 'pretrain')}, the paper's model "
      f"{good(stats, 'linear', 'standard')} in range with "
      f"{final(stats, 'linear', 'standard')['n_diverged']} of its adaptations diverged.",
      f"- **Beyond the range**, on [hi, hi + (hi - lo)/2], no model fits more than "
      f"{percent(far / 100)} of the tasks of any periodic setting (MAML's median "
      f"{span([final(stats, n, 'maml', 'far')['median'] for n in PERIODIC_SETTINGS], '{:.3g}')}"
      ', where 1 is predicting the task\'s mean).',
  ]
  return '\n'.join(lines)


def checks_findings(stats: Dict[str, dict], ceilings: Dict[str, dict]) -> str:
  """The controls and checks in words: what breaks products, large amplitudes,
  the full phase circle, and how much the training seed moves a verdict."""
  runs = [n for n in POINTS if n + SEED_SUFFIX in stats]
  gaps = {n: abs(share(stats, n, 'maml') - share(stats, n + SEED_SUFFIX, 'maml')) for n in runs}
  widest = max(gaps, key=gaps.get)
  disagree = [n for n in runs if len(set(seed_verdicts(stats, n))) > 1]
  lines = [
      '- **What breaks products.** The family fit identifies every task of every control '
      f"({', '.join(fit_share(stats, p.name) for p in CONTROL_POINTS)}), so the points are "
      'not the problem. MAML fits '
      f"{per_seed(stats, 'Fig6_one_frequency', 'maml')} of one-frequency products, "
      f"{per_seed(stats, 'double_frequency', 'maml')} of sinusoids at the doubled frequency "
      f"with the paper's A and phi (Fig1: {per_seed(stats, 'Fig1', 'maml')}), and "
      f"{per_seed(stats, 'double_frequency_product_like', 'maml')} once their amplitudes are "
      'halved and the phase covers the whole circle. One network of the same shape fit to '
      'each task on 200 points (the ceiling) reaches '
      f"{ceiling_count(ceilings, 'double_frequency')} doubled-frequency tasks, "
      f"{ceiling_count(ceilings, 'Fig6_one_frequency')} one-frequency and "
      f"{ceiling_count(ceilings, 'Fig6')} two-frequency products, against "
      f"{ceiling_count(ceilings, 'Fig1')} of the paper's.",
      '- **Large amplitudes and the step size.** MAML meta-trained with a wide amplitude '
      'range and tested with a step size chosen on validation tasks instead of alpha = '
      f"{final_alpha(stats, sweep_name('amplitude', TUNED_AMPLITUDES[0]), 'maml'):g}: "
      + '; '.join(tuned_alpha_effect(stats, m) for m in TUNED_AMPLITUDES) + '.',
      f"- **The full phase circle** (width 2 pi): MAML fits "
      f"{', '.join(good(stats, n, 'maml') for n in FULL_PHASE_RUNS)} of tasks well (seeds "
      f"1, 2, 3) and {good(stats, 'phase_2_long', 'maml')} after {CHECK_ITERATIONS} "
      "iterations (seed 1); the paper's model, trained on half the circle, "
      f"{good(stats, 'phase_2', 'standard')}.",
      f"- **Seeds.** Of {len(runs)} points trained with two seeds, the seeds' verdicts "
      f"(works, borderline, fails; in range) differ on {len(disagree)} "
      f"({', '.join(disagree) or 'none'}); the widest gap in the share of tasks fit well is "
      f"{gaps[widest]:.0f} points ({widest}: {per_seed(stats, widest, 'maml')}).",
  ]
  return '\n'.join(lines)


def shape_findings(stats: Dict[str, dict], results: Dict[str, dict],
                   ceilings: Dict[str, dict]) -> str:
  """The shapes in words: every number read from the results and ceiling files."""
  mixture = results['shapes']['results_by_shape']
  by_shape = lambda shape: percent(
      mixture[shape][str(FIGURE_K)]['maml']['protocols']['in_range'][str(FINAL_STEP)]
      ['fraction_good'])
  lines = [
      '- **Waves.** MAML meta-trained on each fits, in range: '
      + '; '.join(f"{w} {per_seed(stats, w, 'maml')} ({both(stats, w)})" for w in WAVES)
      + f"; on {UNSEEN}: "
      + '; '.join(f"{w} {per_seed(stats, w, 'maml', 'time_series')}" for w in WAVES)
      + '. The baseline: ' + '; '.join(f"{w} {per_seed(stats, w, 'pretrain')}" for w in WAVES)
      + '.',
      '- **The shape or the few-shot fit?** The network fit to 200 points of each task '
      'reaches ' + '; '.join(f'{w} {ceiling_count(ceilings, w)}' for w in WAVES)
      + ', and the family fit to the K points ' + '; '.join(
          f'{w} {fit_share(stats, w)}' for w in WAVES)
      + ' (ten points leave a square wave\'s phase free between two of them).',
      f"- **Quadratics.** MAML fits {per_seed(stats, 'quadratic', 'maml')} in range "
      f"({both(stats, 'quadratic')}), but {diverged(stats, 'quadratic')} of its "
      f"{final(stats, 'quadratic', 'maml')['n_tasks']} "
      f"adaptations diverged (the paper's model: "
      f"{final(stats, 'quadratic', 'standard')['n_diverged']}); on {UNSEEN} "
      f"{per_seed(stats, 'quadratic', 'maml', 'time_series')}. Which tasks diverge is in "
      '`quadratic_tasks.csv` (each task\'s curvature, slope and offset beside its errors).',
      f"- **The mixture.** MAML fits {per_seed(stats, 'shapes', 'maml')} in range; by the "
      'shape each task drew (seed 1): ' + '; '.join(
          f'{shape} {by_shape(shape)}' for shape in FunGenerator.Shapes.SHAPES) + '.',
  ]
  return '\n'.join(lines)


CLAIMS_SOURCE = 'https://github.com/htso/maml_reproduction'
LATER_SOURCE = 'https://github.com/htso/Metalearning-MAML'
CONTROL_AXES = ('mix_one_frequency',)   # controls, not moves the earlier study made
MOST = 2 / 3   # a claim holds (or is refuted) for "most" points beyond this share


def moved_points(stats: Dict[str, dict]) -> List[str]:
  """Every point whose distribution differs from the paper's and that MAML is
  meta-trained on: the settings after Fig1 and every sweep magnitude after the
  first (the control axes left out)."""
  sweep = [sweep_name(axis, m) for axis, spec in AXES.items() if axis not in CONTROL_AXES
           for m in spec.magnitudes[1:]]
  return [p.name for p in SETTING_POINTS[1:]] + [n for n in sweep if n in stats]


def grouped_verdicts(stats: Dict[str, dict], names: List[str], protocol: str = 'in_range'
                     ) -> Dict[str, List[str]]:
  """{'works', 'fails', 'mixed'}: the points of each overall verdict."""
  groups = {'works': [], 'fails': [], 'mixed': []}
  for name in names:
    groups[overall(seed_verdicts(stats, name, protocol))].append(name)
  return groups


def share_verdict(groups: Dict[str, List[str]], total: int) -> str:
  """'refuted' if MAML works on MOST of the points, 'holds' if it fails on MOST, else 'partly'."""
  if len(groups['works']) > MOST * total:
    return 'refuted'
  return 'holds' if len(groups['fails']) > MOST * total else 'partly'


def listed(names: List[str]) -> str:
  return ', '.join(names) if names else 'none'


def claims_table(stats: Dict[str, dict]) -> str:
  """The earlier study's claims and requirements, each with the verdict the
  measurements give (K=FIGURE_K, FINAL_STEP steps, MAML meta-trained on the
  point, both training seeds)."""
  moved = grouped_verdicts(stats, moved_points(stats))
  total = sum(len(v) for v in moved.values())
  smallest = grouped_verdicts(stats, [sweep_name(axis, spec.magnitudes[1]) for axis, spec
                                      in AXES.items() if axis not in CONTROL_AXES])
  settings = [p.name for p in SETTING_POINTS[1:]]
  waves = {w: overall(seed_verdicts(stats, w)) for w in WAVES}
  wave_verdict = ('holds' if all(v == 'fails' for v in waves.values())
                  else 'refuted' if all(v == 'works' for v in waves.values()) else 'partly')
  fig1 = seed_verdicts(stats, STANDARD.name)
  fig1_beats = all(beats_baseline(final(stats, STANDARD.name + suffix, 'maml'))
                   for _, suffix in SEED_RUNS)
  unseen = {n: share(stats, n, 'maml', 'time_series') for n in [STANDARD.name] + settings}
  far = max(share(stats, n, r, 'far') for n in [STANDARD.name] + settings if n != 'linear'
            for r in ROLES)
  product = seed_verdicts(stats, 'Fig6') + seed_verdicts(stats, 'Fig6', k=max(EVAL_KS))
  product_k20 = [good(stats, n, 'maml', k=max(EVAL_KS)) for n in ('Fig6', 'Fig6_seed2')]
  unseen_works = overall(seed_verdicts(stats, STANDARD.name, 'time_series')) == 'works'
  rows = [
      ("Under the paper's data setting the regression result reproduces "
       f'([short README]({CLAIMS_SOURCE}))',
       'holds' if all(v == 'works' for v in fig1) and fig1_beats else 'partly',
       f"MAML fits {per_seed(stats, STANDARD.name, 'maml')} of tasks well (seeds 1 / 2), the "
       f"baseline {per_seed(stats, STANDARD.name, 'pretrain')}; Table 2 above",
       '#the-papers-experiments'),
      ('MAML deteriorates quickly as the *training* distribution moves away from the '
       f'standard sinusoid ([both]({CLAIMS_SOURCE}) [versions]({LATER_SOURCE}))',
       f"{share_verdict(smallest, len(AXES) - len(CONTROL_AXES))} for the smallest moves; "
       f"{share_verdict(moved, total)} over all moves",
       f"MAML meta-trained on the moved distribution. Smallest move on each axis: works on "
       f"{listed(smallest['works'])}; fails on {listed(smallest['fails'])}; mixed on "
       f"{listed(smallest['mixed'])}. All moves: works on {len(moved['works'])} of "
       f"{total} moved points for both seeds, fails on {len(moved['fails'])} "
       f"({listed(moved['fails'])}) and is mixed or borderline on {len(moved['mixed'])} "
       f"({listed(moved['mixed'])})", '#how-far-the-distribution-can-move'),
      ('It seems unable to extend to "certain common periodic functions" (which ones is '
       "not said; square, triangle and sawtooth waves are this project's reading) "
       f'([short README]({CLAIMS_SOURCE}))', wave_verdict,
       '; '.join(f"{w}: {v}, {per_seed(stats, w, 'maml')} fit well" for w, v in waves.items()),
       '#common-periodic-functions'),
      ('Requirement 1: a large fraction of the adapted models do well out of sample',
       f"{'holds' if unseen_works else 'fails'} on the unseen end, "
       f"{'holds' if far >= 100 * MOST else 'fails'} beyond the range",
       f"on the never-seen last {100 * (1 - SPLIT_FRACTION):.0f}% of the range MAML fits "
       f"{good(stats, STANDARD.name, 'maml', 'time_series')} of the paper's tasks well "
       f"({span(list(unseen.values()))} over Fig1-Fig7 and lines); beyond the range no model "
       f"fits more than {percent(far / 100)} of the periodic settings' tasks",
       '#the-earlier-studys-settings'),
      ('Requirement 2: learning stays robust to slight perturbations; how far can it go',
       'measured per axis', 'the boundary table gives, per axis and seed, the last '
       'magnitude where MAML works and where it beats the baseline',
       '#how-far-the-distribution-can-move'),
      ('Products of a sine and a cosine at two frequencies fail, even with K = 100 '
       f'([code notes]({LATER_SOURCE}))',
       f'holds for K <= {max(EVAL_KS)}' if all(v == 'fails' for v in product) else
       'refuted' if all(v == 'works' for v in product) else 'partly',
       f"Fig6 (two frequencies), seeds 1 / 2: MAML {both(stats, 'Fig6')} at K={FIGURE_K}, "
       f"{' / '.join(seed_verdicts(stats, 'Fig6', k=max(EVAL_KS)))} at K={max(EVAL_KS)}, fits "
       f"{' / '.join(product_k20)} of tasks well at K={max(EVAL_KS)} (K = 100 not tested)",
       '#the-earlier-studys-settings'),
      ('Lines: a "surprising result" promised and not shown '
       f'([longer version]({LATER_SOURCE}))', 'measured',
       f"MAML trained on lines fits {per_seed(stats, 'linear', 'maml')} in range, "
       f"{per_seed(stats, 'linear', 'maml', 'time_series')} on the unseen end, "
       f"{per_seed(stats, 'linear', 'maml', 'far')} far beyond the range",
       '#the-earlier-studys-settings'),
  ]
  lines = ['| the earlier study said | verdict | the measurements (K = 10, 20 steps) | see |',
           '|---|---|---|---|']
  lines += [f'| {claim} | **{verdict}** | {numbers} | [section]({link}) |'
            for claim, verdict, numbers, link in rows]
  return '\n'.join(lines)


def summary(stats: Dict[str, dict]) -> str:
  """One sentence: what the robustness study found (K=FIGURE_K, FINAL_STEP steps)."""
  moved = grouped_verdicts(stats, moved_points(stats))
  total = sum(map(len, moved.values()))
  smallest = [sweep_name(axis, spec.magnitudes[1]) for axis, spec in AXES.items()
              if axis not in CONTROL_AXES]
  waves = {w: overall(seed_verdicts(stats, w)) for w in WAVES}
  return (f"**The robustness study**: meta-trained on a moved distribution, MAML works for "
          f"both seeds on {len(moved['works'])} of {total} moved points (on the smallest move "
          f"along {sum(overall(seed_verdicts(stats, n)) == 'works' for n in smallest)} of "
          f"{len(smallest)} axes) and fails on {len(moved['fails'])}, so the earlier study's "
          '"deteriorates quickly" holds only for the larger moves; of the periodic shapes, '
          + ', '.join(f'{w} {v}' for w, v in waves.items())
          + f"; two-frequency products fail ({per_seed(stats, 'Fig6', 'maml')} fit well) "
          f"although the true family fitted to the same points fits {fit_share(stats, 'Fig6')}.")
