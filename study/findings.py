"""The study's findings in words, every number read from its results files:
per section, and the earlier study's claims one by one with their verdicts.
"""
from typing import Dict, List

import FunGenerator
from study.points import (AXES, CHECK_ITERATIONS, CONTROL_POINTS, FULL_PHASE_SEEDS, POINTS, ROLES, SEEDS,
                          SETTING_POINTS, STANDARD, TUNED_AMPLITUDES, TUNED_SUFFIX, sweep_name)
from study.ceiling import WIDER_HIDDEN, WIDTH_POINTS, ceiling_key
from study.points import (FIVE_STEP_PAIRS, HARMONIC_KS, NON_FINITE_SEEDS, TUNED_NAMES,
                          WIDE_POINTS, seed_name,
                          seeds_of)
from study.protocols import CHOSEN, EVAL_KS, FAMILY_FIT, FIGURE_K, FINAL_STEP, SPLIT_FRACTION
from study.tables import (final, final_alpha, good, paper_model_tests, per_seed, percent, share,
                          span)
from study import verdicts
from study.verdicts import STEP_PROTOCOLS, over_seeds


UNSEEN = f'the never-seen last {100 * (1 - SPLIT_FRACTION):.0f}% of the range'
PERIODIC_SETTINGS = tuple(p.name for p in SETTING_POINTS if p.family != 'linear')
WAVES = ('square', 'triangle', 'sawtooth')


def diverged(stats: Dict[str, dict], name: str, role: str = 'maml') -> str:
  """'a to b' diverged adaptations in range, over the training seeds."""
  counts = [final(stats, n, role)['n_diverged'] for n in verdicts.seed_names(stats, name, role)]
  return span(counts, '{:d}')


def both(stats: Dict[str, dict], name: str, protocol: str = 'in_range', k: int = FIGURE_K) -> str:
  """'works (5 of 5 seeds)': MAML's verdict over its training seeds."""
  return over_seeds(stats, name, protocol, k=k).text()


def best_anywhere(stats: Dict[str, dict], names: List[str], protocol: str) -> float:
  """The largest share fit well (percent) of any model, seed, K and step protocol."""
  return max(100 * verdicts.row(stats, run, role, protocol, steps, k)['fraction_good']
             for name in names for role in ROLES for run in verdicts.seed_names(stats, name, role)
             for steps in STEP_PROTOCOLS for k in stats[run] if k != FAMILY_FIT)


def ceiling_count(ceilings: Dict[str, dict], name: str, protocol: str = 'in_range') -> str:
  row = ceilings[name]['statistics'][protocol]
  return f"{round(row['fraction_good'] * row['n_tasks'])} of {row['n_tasks']}"


def fit_share(stats: Dict[str, dict], name: str, protocol: str = 'in_range') -> str:
  return percent(stats[name][FAMILY_FIT][str(FIGURE_K)][protocol]['fraction_good'])


def tuned_alpha_effect(stats: Dict[str, dict], amplitude: float) -> str:
  fixed, tuned = (sweep_name('amplitude', amplitude, suffix) for suffix in ('', TUNED_SUFFIX))
  steps = lambda name: stats[name][str(FIGURE_K)]['maml']['steps']
  return (f"amplitude bound {amplitude:g}: {good(stats, tuned, 'maml')} of tasks fit well "
          f"(alpha = {final_alpha(stats, tuned, 'maml'):g}, {steps(tuned)} steps chosen, "
          f"{final(stats, tuned, 'maml')['n_diverged']} diverged) instead of "
          f"{good(stats, fixed, 'maml')} ({steps(fixed)} steps chosen; "
          f"{final(stats, fixed, 'maml', step=FINAL_STEP)['n_diverged']} diverged at "
          f"{FINAL_STEP} steps)")


def findings(stats: Dict[str, dict]) -> str:
  """The earlier study's settings in words (K=FIGURE_K, the headline step
  protocol; MAML's shares as the spread over its seeds)."""
  moved = [p.name for p in SETTING_POINTS[1:] if p.family == 'sinusoid']
  paper_model_worst = min(moved, key=lambda n: share(stats, n, 'standard'))
  far = best_anywhere(stats, list(PERIODIC_SETTINGS), 'far')
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
      f"{per_seed(stats, 'Fig6', 'maml', k=max(EVAL_KS))}), "
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
      f"{percent(far / 100)} of the tasks of any periodic setting (any seed, K and step "
      "protocol; seed 1's MAML median "
      f"{span([final(stats, n, 'maml', 'far')['median'] for n in PERIODIC_SETTINGS], '{:.3g}')}"
      ', where 1 is predicting the task\'s mean).',
  ]
  return '\n'.join(lines)


def checks_findings(stats: Dict[str, dict], ceilings: Dict[str, dict]) -> str:
  """The controls and checks in words: what breaks products, large amplitudes,
  the full phase circle, and how much the training seed moves a verdict."""
  names = verdicts.distinct(list(verdicts.CANONICAL))
  disagree = verdicts.split_points(stats, names)
  widest, gap = verdicts.widest_gap(stats, names)
  phase = over_seeds(stats, 'phase_2')
  paper_better = paper_model_better(stats)
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
      f"{', '.join(f'{100 * x:.0f}%' for x in phase.shares)} of tasks well ({phase.n} seeds: "
      f"{phase.text()}) and {good(stats, 'phase_2_long', 'maml')} after {CHECK_ITERATIONS} "
      "iterations (seed 1); the paper's model, trained on half the circle, "
      f"{good(stats, 'phase_2', 'standard')}.",
      f"- **Seeds.** Of {len(names)} distinct distributions (MAML from {len(SEEDS)} seeds each, "
      f"{len(FULL_PHASE_SEEDS)} on the full phase circle), the seeds' in-range verdicts (works, borderline, fails) differ on "
      f"{len(disagree)} ({', '.join(disagree) or 'none'}); the widest seed spread of the share "
      f"fit well is {gap:.0f} points ({widest}: {per_seed(stats, widest, 'maml')}).",
      "- **The paper's model against MAML retrained on the moved distribution** (same tasks, "
      "in range, sign test with Holm's correction over the table in all_points.md): the "
      "paper's model is better for most seeds on " + paper_better + '.',
      '- **Test steps.** Chosen on validation tasks, MAML\'s models (every seed) took '
      f"{chosen_counts(stats, names)} times, the baseline's {chosen_counts(stats, names, 'pretrain')}. "
      'Against the chosen count, the in-range verdict over seeds changes at 1 step on '
      f"{changed_by_steps(stats, names, 1)}; at {FINAL_STEP} steps on "
      f"{changed_by_steps(stats, names, FINAL_STEP)}.",
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


def paper_model_better(stats: Dict[str, dict]) -> str:
  """The moved distributions on which the paper's model has the lower error on
  significantly more of the same tasks than MAML retrained there for a
  majority of seeds (Holm over every such test), at 1 and at 20 steps."""
  names = verdicts.distinct(moved_points(stats))
  parts = []
  for steps in (1, FINAL_STEP):
    rejected = verdicts.holm(paper_model_tests(stats, names, steps))
    better = [n for n in names if sum((n, run, 'paper') in rejected for run in
                                      verdicts.seed_names(stats, n)) * 2 >
              len(verdicts.seed_names(stats, n))]
    parts.append(f"{listed(better)} at {STEP_PROTOCOLS[steps]}")
  return '; '.join(parts)


def grouped_verdicts(stats: Dict[str, dict], names: List[str], protocol: str = 'in_range',
                     steps=verdicts.HEADLINE) -> Dict[str, List[str]]:
  """{'works', 'fails', 'borderline'}: the points of each verdict over seeds,
  each distribution once (under the first of its names given)."""
  groups = {'works': [], 'fails': [], 'borderline': []}
  seen = set()
  for name in names:
    if verdicts.CANONICAL.get(name, name) not in seen:
      seen.add(verdicts.CANONICAL.get(name, name))
      groups[over_seeds(stats, name, protocol, steps).verdict].append(name)
  return groups


def share_verdict(groups: Dict[str, List[str]], total: int) -> str:
  """'refuted' if MAML works on MOST of the points, 'holds' if it fails on MOST, else 'partly'."""
  if len(groups['works']) > MOST * total:
    return 'refuted'
  return 'holds' if len(groups['fails']) > MOST * total else 'partly'


def listed(names: List[str]) -> str:
  return ', '.join(names) if names else 'none'


def smallest_moves() -> List[str]:
  return [sweep_name(axis, spec.magnitudes[1]) for axis, spec in AXES.items()
          if axis not in CONTROL_AXES]


def changed_by_steps(stats: Dict[str, dict], names: List[str], steps) -> str:
  """The distributions whose in-range verdict over seeds at `steps` differs
  from the headline's: their count and names."""
  rank = {'fails': 0, 'borderline': 1, 'works': 2}
  pairs = {name: (over_seeds(stats, name).verdict, over_seeds(stats, name, steps=steps).verdict)
           for name in verdicts.distinct(names)}
  changed = [name for name, (headline, other) in pairs.items() if headline != other]
  worse = all(rank[pairs[n][1]] < rank[pairs[n][0]] for n in changed)
  return f'{len(changed)}' + (f" ({'each for the worse: ' if worse else ''}{listed(changed)})"
                              if changed else '')


def chosen_counts(stats: Dict[str, dict], names: List[str], role: str = 'maml') -> str:
  """How often each step count was chosen on validation by the role's models."""
  counts = {}
  for name in verdicts.distinct(names):
    for run in verdicts.seed_names(stats, name, role):
      steps = stats[run][str(FIGURE_K)][role]['steps']
      counts[steps] = counts.get(steps, 0) + 1
  return ', '.join(f'{n} steps {counts[n]}' for n in sorted(counts))


def claims_table(stats: Dict[str, dict]) -> str:
  """The earlier study's claims and requirements, each with the verdict the
  measurements give (K=FIGURE_K, in range unless said, MAML meta-trained on the
  point, over its training seeds, at the headline step protocol)."""
  moved_names = verdicts.distinct(moved_points(stats))
  moved = grouped_verdicts(stats, moved_names)
  total = len(moved_names)
  smallest = grouped_verdicts(stats, smallest_moves())
  settings = [p.name for p in SETTING_POINTS[1:]]
  waves = {w: over_seeds(stats, w) for w in WAVES}
  wave_verdicts = [v.verdict for v in waves.values()]
  wave_verdict = ('holds' if all(v == 'fails' for v in wave_verdicts)
                  else 'refuted' if all(v == 'works' for v in wave_verdicts) else 'partly')
  fig1 = over_seeds(stats, STANDARD.name)
  fig1_beats = verdicts.holm({run: verdicts.beats_p(final(stats, run, 'maml')) for run in
                              verdicts.seed_names(stats, STANDARD.name)})
  unseen = {n: share(stats, n, 'maml', 'time_series') for n in [STANDARD.name] + settings}
  far = best_anywhere(stats, [STANDARD.name] + [n for n in settings if n != 'linear'], 'far')
  product = [over_seeds(stats, 'Fig6', k=k) for k in EVAL_KS]
  big_k = max(HARMONIC_KS)
  harmonic = {k: over_seeds(stats, 'harmonic', k=k) for k in HARMONIC_KS}
  wide_harmonic = over_seeds(stats, 'harmonic_h80', k=big_k)
  at_big_k = [harmonic[big_k].verdict, wide_harmonic.verdict]
  product_verdict = ('holds' if all(v == 'fails' for v in at_big_k) else
                     'refuted' if all(v == 'works' for v in at_big_k) else 'partly')
  unseen_works = over_seeds(stats, STANDARD.name, 'time_series').verdict == 'works'
  rows = [
      ("Under the paper's data setting the regression result reproduces "
       f'([short README]({CLAIMS_SOURCE}))',
       'holds' if fig1.verdict == 'works' and len(fig1_beats) == fig1.n else 'partly',
       f"MAML {fig1.text()}, fits {per_seed(stats, STANDARD.name, 'maml')} of tasks well and "
       f"beats the baseline ({per_seed(stats, STANDARD.name, 'pretrain')}) for "
       f"{len(fig1_beats)} of {fig1.n} seeds; Table 2 above", '#the-papers-experiments'),
      ('MAML deteriorates quickly as the *training* distribution moves away from the '
       f'standard sinusoid ([both]({CLAIMS_SOURCE}) [versions]({LATER_SOURCE}))',
       f"{share_verdict(smallest, len(smallest_moves()))} for the smallest moves; "
       f"{share_verdict(moved, total)} over all moves",
       f"MAML meta-trained on the moved distribution, in range. Smallest move on each axis: "
       f"works for every seed on {listed(smallest['works'])}; fails on "
       f"{listed(smallest['fails'])}; borderline on {listed(smallest['borderline'])}. All "
       f"{total} distinct moved distributions: works for every seed on {len(moved['works'])}, "
       f"fails for every seed on {len(moved['fails'])} ({listed(moved['fails'])}), "
       f"borderline or split on {len(moved['borderline'])} ({listed(moved['borderline'])})",
       '#how-far-the-distribution-can-move'),
      ('It seems unable to extend to "certain common periodic functions" (which ones is '
       "not said; square, triangle and sawtooth waves are this project's reading) "
       f'([short README]({CLAIMS_SOURCE}))', wave_verdict,
       '; '.join(f"{w}: {v.text()}, {v.spread()} fit well" for w, v in waves.items()),
       '#common-periodic-functions'),
      ('Requirement 1: a large fraction of the adapted models do well out of sample',
       f"{'holds' if unseen_works else 'fails'} on the unseen end, "
       f"{'holds' if far >= 100 * MOST else 'fails'} beyond the range",
       f"on the never-seen last {100 * (1 - SPLIT_FRACTION):.0f}% of the range MAML fits "
       f"{per_seed(stats, STANDARD.name, 'maml', 'time_series')} of the paper's tasks well "
       f"(seed 1: {span(list(unseen.values()))} over Fig1-Fig7 and lines); beyond the range "
       f"no model (any seed, K, step protocol) fits more than {percent(far / 100)} of the "
       "periodic settings' tasks", '#the-earlier-studys-settings'),
      ('Requirement 2: learning stays robust to slight perturbations; how far can it go',
       'measured per axis', 'the boundary table gives, per axis, the last magnitude up to '
       'which MAML works for every seed and for most seeds', '#how-far-the-distribution-can-move'),
      ('Products of a sine and a cosine at two frequencies fail, even with K = 100 '
       f'([code notes]({LATER_SOURCE}))', product_verdict,
       "its experiment as the notes describe it (`harmonic`: frequencies 1 and 3, x in [0, 3], "
       f"K = {big_k} at meta-training; {harmonic[big_k].n} seeds): "
       + '; '.join(f"{label}: MAML {v.text()}, {v.spread()} fit well"
                   for label, v in (
                       (f'K={big_k}', harmonic[big_k]), (f'K={FIGURE_K}', harmonic[FIGURE_K]),
                       (f'80x80, K={big_k}', wide_harmonic)))
       + '. Fig6 (two close frequencies on [-5, 5]): '
       + '; '.join(f"K={k}: {v.text()}, {v.spread()}" for k, v in zip(EVAL_KS, product)),
       '#what-limits-maml'),
      ('Lines: a "surprising result" promised and not shown '
       f'([longer version]({LATER_SOURCE}))', 'measured',
       f"MAML trained on lines fits {per_seed(stats, 'linear', 'maml')} in range, "
       f"{per_seed(stats, 'linear', 'maml', 'time_series')} on the unseen end, "
       f"{per_seed(stats, 'linear', 'maml', 'far')} far beyond the range",
       '#the-earlier-studys-settings'),
  ]
  lines = ['| the earlier study said | verdict | the measurements (K = 10, steps chosen on '
           'validation, over seeds) | see |', '|---|---|---|---|']
  lines += [f'| {claim} | **{verdict}** | {numbers} | [section]({link}) |'
            for claim, verdict, numbers, link in rows]
  return '\n'.join(lines)


def summary(stats: Dict[str, dict]) -> str:
  """One sentence: what the robustness study found (K=FIGURE_K, in range, over seeds)."""
  names = verdicts.distinct(moved_points(stats))
  moved = grouped_verdicts(stats, names)
  smallest = smallest_moves()
  waves = {w: over_seeds(stats, w).text() for w in WAVES}
  return (f"**The robustness study**: meta-trained on a moved distribution (in range, test steps "
          f"chosen on validation), MAML works for every seed on {len(moved['works'])} of "
          f"{len(names)} distinct moved distributions (on the smallest move along "
          f"{sum(over_seeds(stats, n).verdict == 'works' for n in smallest)} of "
          f"{len(smallest)} axes), fails for every seed on {len(moved['fails'])} and is "
          f"borderline or split across seeds on {len(moved['borderline'])}; of the periodic "
          'shapes, ' + ', '.join(f'{w} {v}' for w, v in waves.items())
          + f"; two-frequency products fail ({per_seed(stats, 'Fig6', 'maml')} fit well) "
          f"although the true family fitted to the same points fits {fit_share(stats, 'Fig6')}.")


def pair(stats: Dict[str, dict], name: str, what, like: str = None) -> str:
  """'a / b': what(statistics) for the point's models of each seed of the
  point `like` (default: its own, 1 and its second), so that a comparison
  reads the same seeds on both sides."""
  return ' / '.join(what(stats[seed_name(name, seed)]) for seed in seeds_of(like or name))


def at(protocol: str = 'in_range', steps=verdicts.HEADLINE, k: int = FIGURE_K, role='maml'):
  """The share fit well of a point's statistics, as text."""
  return lambda point: percent(
      point[str(k)][role][CHOSEN][protocol]['fraction_good'] if steps == CHOSEN else
      point[str(k)][role]['protocols'][protocol][str(steps)]['fraction_good'])


def alpha_of(point: dict) -> str:
  return f"{point[str(FIGURE_K)]['maml']['alpha']:g}"


def diverged_at(steps: int, k: int = FIGURE_K):
  return lambda point: str(point[str(k)]['maml']['protocols']['in_range'][str(steps)]['n_diverged'])


def width_keys(name: str) -> List[str]:
  return [ceiling_key(name, hidden) for hidden in WIDER_HIDDEN]


def mechanism_findings(stats: Dict[str, dict], ceilings: Dict[str, dict]) -> str:
  """Each mechanism experiment in words, seeds 1 / 2 (in range, K=FIGURE_K,
  steps chosen on validation unless said)."""
  big_k = max(HARMONIC_KS)
  wide = lambda name: '; '.join(
      f"{key.split('_h')[-1] if '_h' in key else '40x40'} "
      f"{ceiling_count(ceilings, key)}" for key in [name] + width_keys(name) if key in ceilings)
  lines = [
      "- **The earlier study's harmonic experiment** (`harmonic`: products at frequencies 1 "
      "and 3 on x in [0, 3], the inner step on a task's left half, the meta-loss on its right "
      f"half, K = {big_k}, 10 tasks per meta-batch, 100,000 iterations): MAML fits "
      f"{pair(stats, 'harmonic', at(k=big_k))} of tasks well in range at K = {big_k} and "
      f"{pair(stats, 'harmonic', at())} at K = {FIGURE_K}, "
      f"{pair(stats, 'harmonic', at('time_series', k=big_k))} on the last 20% at K = {big_k}; "
      f"with 80x80 hidden units {pair(stats, 'harmonic_h80', at(k=big_k))} and "
      f"{pair(stats, 'harmonic_h80', at())}; the baseline "
      f"{pair(stats, 'harmonic', at(k=big_k, role='pretrain'))} at K = {big_k}; the family fit "
      f"{fit_share(stats, 'harmonic')} at K = {FIGURE_K}.",
      '- **Width.** One network fit to each task (the ceiling, in range, tasks fit well): '
      + '. '.join(f'{name}: {wide(name)}' for name in WIDTH_POINTS)
      + '. MAML meta-trained with 100x100 hidden units (seeds 1 / 2): '
      + '; '.join(f"{p.name} {pair(stats, p.name, at())} (40x40: "
                  f"{pair(stats, p.name[:-len('_h100')], at(), p.name)})" for p in WIDE_POINTS)
      + '.',
      '- **Five inner steps at meta-training** against one (seeds 1 / 2; '
      + ''.join(f"{name}: seed{'s' * (len(seeds_of(name)) > 1)} "
                f"{' / '.join(map(str, seeds_of(name)))}, the meta-loss of seed"
                f"{'s' * (len(failed) > 1)} {', '.join(map(str, failed))} became non-finite in "
                'meta-training; '
                for name, failed in NON_FINITE_SEEDS.items())
      + f"adaptations of the {final(stats, 'Fig1', 'maml')['n_tasks']} tasks diverged at 10 and "
      f'{FINAL_STEP} test steps; share fit well): '
      + '; '.join(
          f"{one}: {pair(stats, five, diverged_at(10))} and {pair(stats, five, diverged_at(20))} "
          f"diverged, {pair(stats, five, at())} fit well (one step: "
          f"{pair(stats, one, diverged_at(10), five)} and "
          f"{pair(stats, one, diverged_at(20), five)}, {pair(stats, one, at(), five)})"
          for one, five in FIVE_STEP_PAIRS) + '.',
      '- **Step size chosen on validation** instead of alpha = 0.01 (seeds 1 / 2): '
      + '; '.join(
          f"{name}: {pair(stats, name + TUNED_SUFFIX, at())} fit well, alpha "
          f"{pair(stats, name + TUNED_SUFFIX, alpha_of)}, "
          f"{pair(stats, name + TUNED_SUFFIX, diverged_at(FINAL_STEP))} diverged at "
          f"{FINAL_STEP} steps "
          f"(fixed: {pair(stats, name, at(), name + TUNED_SUFFIX)}, "
          f"{pair(stats, name, diverged_at(FINAL_STEP), name + TUNED_SUFFIX)} "
          'diverged)' for name in TUNED_NAMES) + '.',
      "- **One change at a time** from the doubled frequency toward the one-frequency product "
      "(seeds 1 / 2): the paper's A and phi "
      f"{pair(stats, 'double_frequency', at(), 'double_frequency_full_phase')}; amplitudes "
      "halved "
      f"{pair(stats, 'double_frequency_half_amplitude', at())}; the whole phase circle "
      f"{pair(stats, 'double_frequency_full_phase', at())}; both "
      f"{pair(stats, 'double_frequency_product_like', at(), 'double_frequency_full_phase')}.",
  ]
  return '\n'.join(lines)
