"""The study's findings in words, every number read from its results files.
"""
from typing import Dict

import FunGenerator
from study.points import (AXES, CEILING_POINTS, CHECK_ITERATIONS, FULL_PHASE_RUNS, POINTS,
                          ROLES, SECOND_SEED, SEED_RUNS, SETTING_POINTS, STANDARD,
                          TUNED_AMPLITUDES, TUNED_SUFFIX, sweep_name)
from study.protocols import EVAL_KS, FIGURE_K, FINAL_STEP, GOOD_NMSE, SPLIT_FRACTION, works
from study.tables import (final, final_alpha, share, good, span, per_seed, last_passing,
                          same_tasks)


def tuned_alpha_effect(stats: Dict[str, dict], amplitude: float) -> str:
  fixed, tuned = (sweep_name('amplitude', amplitude, suffix) for suffix in ('', TUNED_SUFFIX))
  return (f"MAML trained with amplitude bound {amplitude:g} fits {good(stats, tuned, 'maml')} "
          f"of tasks well in range (alpha = {final_alpha(stats, tuned, 'maml'):g}, median "
          f"{final(stats, tuned, 'maml')['median']:.3g}) instead of {good(stats, fixed, 'maml')} "
          f"(median {final(stats, fixed, 'maml')['median']:.3g})")


def findings(stats: Dict[str, dict]) -> str:
  """The Results paragraph: the measured answers to the earlier study's claims,
  every number read from `stats` (K=FIGURE_K, FINAL_STEP steps)."""
  moved = [p.name for p in SETTING_POINTS[1:] if p.family in ('sinusoid', 'sum')]
  far_sinusoids = [p.name for p in SETTING_POINTS if p.family != 'linear']
  paper_model_worst = min(moved, key=lambda n: share(stats, n, 'standard'))
  product_ratio = (final(stats, 'Fig6', 'pretrain')['median']
                   / final(stats, 'Fig6', 'maml')['median'])
  lines = [
      f"- **The paper's setting (Fig1).** After {FINAL_STEP} steps from K={FIGURE_K} points "
      f"MAML fits {good(stats, 'Fig1', 'maml')} of the {final(stats, 'Fig1', 'maml')['n_tasks']} "
      "held-out tasks well over the x "
      f"range, the pretrained baseline {good(stats, 'Fig1', 'pretrain')}. On the last "
      f"{100 * (1 - SPLIT_FRACTION):.0f}% of the range, never seen during adaptation: {good(stats, 'Fig1', 'maml', 'time_series')} "
      f"against {good(stats, 'Fig1', 'pretrain', 'time_series')}.",
      f"- **Moved sinusoids ({', '.join(moved)}).** MAML meta-trained on the moved "
      f"distribution fits {span([share(stats, n, 'maml') for n in moved])} of tasks well in range "
      f"({good(stats, 'Fig1', 'maml')} in the paper's setting), the pretrained baseline "
      f"{span([share(stats, n, 'pretrain') for n in moved])}. The paper's model tested there "
      f"without retraining fits {span([share(stats, n, 'standard') for n in moved])}, worst on "
      f"{paper_model_worst} ({POINTS[paper_model_worst].title}, "
      f"{good(stats, paper_model_worst, 'standard')}).",
      '- **How far the distribution can move** before MAML meta-trained on it no '
      f'longer fits most tasks well (median normalised MSE < {GOOD_NMSE:g}, in range): '
      + '; '.join(f'{spec.label}: ' + ', '.join(
          f"seed {seed} {last_passing(stats, axis, 'in_range', works, suffix)}"
          for seed, suffix in SEED_RUNS) for axis, spec in AXES.items()) + '.',
      '- **Large amplitudes and the step size.** With the test step size chosen on '
      'validation tasks instead of the meta-training alpha = '
      f"{final_alpha(stats, sweep_name('amplitude', TUNED_AMPLITUDES[0]), 'maml'):g}, "
      + '; '.join(tuned_alpha_effect(stats, m) for m in TUNED_AMPLITUDES) + '.',
      f"- **Products (Fig6).** MAML trained on products fits "
      f"{good(stats, 'Fig6', 'maml')} of tasks well (median normalised MSE "
      f"{final(stats, 'Fig6', 'maml')['median']:.2f}), the pretrained baseline "
      f"{good(stats, 'Fig6', 'pretrain')} (median "
      f"{final(stats, 'Fig6', 'pretrain')['median']:.2f}, {product_ratio:.1f} times MAML's).",
      f"- **More points** (K={max(EVAL_KS)} at test, the models trained with "
      f"K={FIGURE_K}). On Fig5 MAML fits {good(stats, 'Fig5', 'maml', k=max(EVAL_KS))} "
      f"of tasks well in range (K={FIGURE_K}: {good(stats, 'Fig5', 'maml')}) but "
      f"{good(stats, 'Fig5', 'maml', 'time_series', k=max(EVAL_KS))} on the never-seen "
      f"end of the range (K={FIGURE_K}: {good(stats, 'Fig5', 'maml', 'time_series')}); "
      f"on Fig6 {good(stats, 'Fig6', 'maml', k=max(EVAL_KS))} in range "
      f"(K={FIGURE_K}: {good(stats, 'Fig6', 'maml')}).",
      f"- **Lines.** MAML trained on lines fits {good(stats, 'linear', 'maml')} in range, "
      f"{good(stats, 'linear', 'maml', 'time_series')} on the never-seen last 20% and "
      f"{good(stats, 'linear', 'maml', 'far')} far beyond the range; the pretrained "
      f"baseline {good(stats, 'linear', 'pretrain')}, "
      f"{good(stats, 'linear', 'pretrain', 'time_series')} and "
      f"{good(stats, 'linear', 'pretrain', 'far')}.",
      f"- **The full phase circle** (phase width 2 pi). MAML meta-trained on it fits "
      f"{', '.join(good(stats, n, 'maml') for n in FULL_PHASE_RUNS)} of tasks well in "
      f"range (seeds 1, 2, 3) and {good(stats, 'phase_2_long', 'maml')} after "
      f"{CHECK_ITERATIONS} iterations, while the paper's model, trained on half the "
      f"circle, fits {good(stats, 'phase_2', 'standard')} of the same tasks.",
      f"- **Far extrapolation of periodic tasks.** On [hi, hi + (hi - lo)/2] MAML's median "
      f"normalised MSE is "
      f"{span([final(stats, n, 'maml', 'far')['median'] for n in far_sinusoids], '{:.3g}')} "
      f"across Fig1-Fig7 (1 = predicting the task's mean), the pretrained baseline's "
      f"{span([final(stats, n, 'pretrain', 'far')['median'] for n in far_sinusoids], '{:.3g}')}; "
      f"no model fits more than {max(share(stats, n, r, 'far') for n in far_sinusoids for r in ROLES):.0f}% "
      'of the tasks of any of these settings well there.',
  ]
  return '\n'.join(lines)


WAVES = ('square', 'triangle', 'sawtooth')


def shape_findings(stats: Dict[str, dict], results: Dict[str, dict],
                   ceilings: Dict[str, dict], logdir: str) -> str:
  """The shapes paragraph: every number read from the results and ceiling files."""
  by_name = results['shapes']['results_by_shape']
  mixture = {shape: by_name[shape] for shape in FunGenerator.Shapes.SHAPES}
  by_shape = lambda shape, role: (
      f"{100 * mixture[shape][str(FIGURE_K)][role]['protocols']['in_range'][str(FINAL_STEP)]['fraction_good']:.0f}%")
  num = ceilings[WAVES[0]]['num_tasks']

  def versus(name: str, protocol: str) -> str:
    fit = ceilings[name]['statistics'][protocol]['median']
    adapted = same_tasks(logdir, name, 'maml', protocol, num)['median']
    return f'{name} {fit:.2g} vs {adapted:.2g}'

  lines = [
      f"- **Common periodic shapes.** After {FINAL_STEP} steps from K={FIGURE_K} points, MAML "
      "meta-trained on each wave fits, in range (models from seed 1 / seed "
      f"{SECOND_SEED}): " + '; '.join(f"{w} {per_seed(stats, w, 'maml')}" for w in WAVES)
      + f" (sinusoid, Fig1: {per_seed(stats, STANDARD.name, 'maml')}); the pretrained baseline "
      + '; '.join(f"{w} {per_seed(stats, w, 'pretrain')}" for w in WAVES)
      + "; the paper's model, never trained on them, "
      + '; '.join(f"{w} {good(stats, w, 'standard')}" for w in WAVES)
      + f". On the never-seen last {100 * (1 - SPLIT_FRACTION):.0f}% of the range MAML fits "
      + '; '.join(f"{w} {per_seed(stats, w, 'maml', 'time_series')}" for w in WAVES)
      + ', the baseline '
      + '; '.join(f"{w} {per_seed(stats, w, 'pretrain', 'time_series')}" for w in WAVES) + '.',
      f"- **The shape or the few-shot fit?** Median normalised MSE on the first {num} tasks "
      "of each point, one network of the same shape fit to each task on "
      f"{ceilings[WAVES[0]]['train_points']} noise-free points vs MAML after {FINAL_STEP} "
      f"steps from K={FIGURE_K} points. In range (the network fit on the whole range): "
      + '; '.join(versus(n, 'in_range') for n in CEILING_POINTS)
      + f". On the last {100 * (1 - SPLIT_FRACTION):.0f}% of the range (the network fit on the "
      'first 80% only): ' + '; '.join(versus(n, 'time_series') for n in CEILING_POINTS) + '.',
      f"- **Quadratics.** MAML meta-trained on quadratics fits {per_seed(stats, 'quadratic', 'maml')} "
      f"of tasks well in range, {per_seed(stats, 'quadratic', 'maml', 'time_series')} on the "
      f"never-seen end and {per_seed(stats, 'quadratic', 'maml', 'far')} far beyond it; the "
      f"pretrained baseline {per_seed(stats, 'quadratic', 'pretrain')}, "
      f"{per_seed(stats, 'quadratic', 'pretrain', 'time_series')} and "
      f"{per_seed(stats, 'quadratic', 'pretrain', 'far')}.",
      f"- **A mixture of shapes** (each task a sinusoid, square, triangle or sawtooth wave, "
      f"the shape drawn at random). MAML meta-trained on it fits {per_seed(stats, 'shapes', 'maml')} "
      "of tasks well in range; by the shape the task drew (seed 1): "
      + '; '.join(f"{shape} {by_shape(shape, 'maml')}" for shape in mixture)
      + f". The pretrained baseline fits {per_seed(stats, 'shapes', 'pretrain')}; by shape: "
      + '; '.join(f"{shape} {by_shape(shape, 'pretrain')}" for shape in mixture) + '.',
  ]
  return '\n'.join(lines)
