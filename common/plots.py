"""Figures, drawn from saved results and checkpoint predictions (never from training)."""
import dataclasses
import math
import os
from typing import Dict, List, Sequence

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
from matplotlib import ticker  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from common import fileio
from common import interrupts  # pylint: disable=wrong-import-position

STEP_STYLES = {0: ':', 1: '--'}   # later steps: solid
PANEL_SIZE = (3.6, 2.8)
DPI = 90
FORMULA_DPI = 120
LEGEND_SPACE = 0.08   # fraction of a figure's height kept for a shared legend
BOUNDARY_CLIP = 10.0
ECDF_LIMIT = 1e4      # normalised MSE beyond which an adaptation has clearly diverged
# One colour per role in every figure, by the first keyword its label holds.
ROLE_COLORS = (('paper model', 'C2'), ('pretrained', 'C1'), ('first-order', 'C4'),
               ('trained with K=5', 'C9'), ('oracle', 'C3'), ('family fit', 'C5'),
               ('network fit', 'C7'), ('MAML', 'C0'))
SCALE_MARGIN = 3.0    # learning curves: the y axis ends this factor above the largest
                      # mean over the tasks that did not diverge


@dataclasses.dataclass
class Panel:
  """One task adapted by one model.

  tasks: the dict of sampling.evaluation_tasks; b: which task;
  predictions: [S + 1, GRID_POINTS] on tasks['grid'] after 0..S steps.
  """
  tasks: dict
  b: int
  predictions: np.ndarray
  title: str


def as_2d(array: np.ndarray) -> np.ndarray:
  """[..., N, 1] -> [..., N]."""
  return array[..., 0]


def draw_panel(ax, panel: Panel, steps: Sequence[int]):
  grid_x, grid_y = (as_2d(a)[panel.b] for a in panel.tasks['grid'])
  support_x, support_y = (as_2d(a)[panel.b] for a in panel.tasks['support'])
  ax.plot(grid_x, grid_y, color='k', lw=2, label='ground truth')
  for step in steps:
    if step < len(panel.predictions):
      ax.plot(grid_x, panel.predictions[step], STEP_STYLES.get(step, '-'),
              label=f'after {step} step' + ('' if step == 1 else 's'))
  ax.scatter(support_x, support_y, color='r', zorder=5, label=f'K={len(support_x)} points')
  ax.set_title(panel.title, fontsize=9)
  ax.set_xlabel('x')


def adaptation_figure(path: str, rows: List[List[Panel]], steps: Sequence[int]):
  """A grid of panels: ground truth, the K points and f after each step."""
  num_rows, num_cols = len(rows), max(len(r) for r in rows)
  fig, axes = plt.subplots(num_rows, num_cols, squeeze=False,
                           figsize=(PANEL_SIZE[0] * num_cols, PANEL_SIZE[1] * num_rows))
  for row, row_axes in zip(rows, axes):
    for panel, ax in zip(row, row_axes):
      draw_panel(ax, panel, steps)
  axes[0, 0].legend(fontsize=7, loc='best')
  save(fig, path)


def seed_average(seeds: List[List[dict]], key: str) -> np.ndarray:
  """A statistic per step averaged over seeds (inf or nan if any seed's is): [S + 1]."""
  with np.errstate(invalid='ignore', over='ignore'):
    return np.array([[row[key] for row in seed] for seed in seeds]).mean(axis=0)


def readable_log_axis(ax):
  """Log-scale y ticks at 1, 2 and 5 times each power of ten, written as plain
  numbers, so that a range inside one decade still has labels."""
  ax.set_yscale('log')
  ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
  ax.yaxis.set_major_formatter(ticker.FormatStrFormatter('%g'))
  ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def dashboard(path: str, title: str, curve, stats: List[dict], panels: List[Panel],
              steps: Sequence[int]):
  """After a training run: the meta-training curve, the query MSE against test
  steps and a few adapted tasks.

  Args:
    curve: (iterations [N], pre-update loss [N], post-update loss [N]) as
      training recorded them, or None if there is no record.
    stats: the per-step query statistics of the evaluation (statistics.loss_statistics),
      or None if it was not evaluated.
    panels: tasks to draw, with predictions after each of `steps`.
  """
  fig = plt.figure(figsize=(PANEL_SIZE[0] * len(panels), PANEL_SIZE[1] * 2.2))
  grid = fig.add_gridspec(2, len(panels))
  train_ax = fig.add_subplot(grid[0, :len(panels) - 1])
  if curve is None:
    train_ax.text(0.5, 0.5, 'no training record in this folder', ha='center',
                  transform=train_ax.transAxes)
  else:
    iterations, pre, post = curve
    train_ax.plot(iterations, pre, lw=0.8, label='pre-update loss (support set a)')
    train_ax.plot(iterations, post, lw=0.8, label='post-update loss (query set b)')
    readable_log_axis(train_ax)
    train_ax.legend(fontsize=7)
  train_ax.set_xlabel('meta-iteration')
  train_ax.set_title('meta-training loss, mean over each chunk of --iterations_per_run',
                     fontsize=9)
  mse_ax = fig.add_subplot(grid[0, len(panels) - 1])
  if stats is not None:
    step = np.array([row['step'] for row in stats])
    kept = np.array([row['mean_not_diverged'] for row in stats])
    ci = np.array([row['ci95_not_diverged'] for row in stats])
    mse_ax.plot(step, kept, marker='o', ms=3, label='mean, 95% CI')
    mse_ax.fill_between(step, np.maximum(kept - ci, kept / SCALE_MARGIN), kept + ci, alpha=0.2)
    mse_ax.plot(step, [row['median_all_tasks'] for row in stats], marker='o', ms=3,
                label='median')
    readable_log_axis(mse_ax)
    mse_ax.legend(fontsize=7)
    mse_ax.set_title(f"query MSE, {stats[0]['n_tasks']} tasks; mean over those not "
                     f"diverged ({stats[-1]['n_diverged']} at {step[-1]} steps)", fontsize=8)
  mse_ax.set_xlabel('number of gradient steps')
  for col, panel in enumerate(panels):
    draw_panel(fig.add_subplot(grid[1, col]), panel, steps)
  fig.axes[-len(panels)].legend(fontsize=7, loc='best')
  fig.suptitle(title, fontsize=10)
  fig.tight_layout(rect=(0, 0, 1, 0.95))
  write_figure(fig, path, dpi=DPI)
  plt.close(fig)


def color_of(label: str) -> str:
  """The colour of a model's role (ROLE_COLORS), the same in every figure."""
  return next((color for keyword, color in ROLE_COLORS if keyword in label), 'C7')


def learning_curves(path: str, panels: Dict[str, Dict[str, List[dict]]],
                    references: Dict[str, Dict[str, Dict[int, float]]] = None):
  """MSE against inner steps, one column per panel (log scale).

  Top row: the paper's statistic, the mean over all tasks with its 95% CI,
  averaged over seeds (thin lines: each seed). The y axis is set by the means
  over the tasks that did not diverge, so the curves can be compared; a step
  whose mean over all tasks is off that scale or not finite is a triangle at
  the top edge, labelled with its number of diverged tasks (summed over seeds).
  Bottom row: the median over all tasks.

  Args:
    panels: {panel title: {model label: [per-step statistics of each seed]}},
      statistics as statistics.loss_statistics writes them.
    references: {panel title: {label: {step: published mean}}}, drawn as
      crosses on the top row.
  """
  fig, axes = plt.subplots(2, len(panels), squeeze=False,
                           figsize=(PANEL_SIZE[0] * 1.4 * len(panels), PANEL_SIZE[1] * 2.6))
  for (top_ax, median_ax), (title, curves) in zip(axes.T, panels.items()):
    kept = np.concatenate([seed_average(seeds, 'mean_not_diverged') for seeds in curves.values()])
    top, bottom = SCALE_MARGIN * np.nanmax(kept), np.nanmin(kept) / SCALE_MARGIN
    for label, seeds in curves.items():
      steps = np.array([row['step'] for row in seeds[0]])
      mean, ci = seed_average(seeds, 'mean_all_tasks'), seed_average(seeds, 'ci95_all_tasks')
      with np.errstate(invalid='ignore'):
        off = ~(mean <= top)
      shown = np.where(off, np.nan, mean)
      line, = top_ax.plot(steps, shown, marker='o', ms=3, label=label, color=color_of(label))
      top_ax.fill_between(steps, np.maximum(shown - ci, bottom), np.minimum(shown + ci, top),
                          color=line.get_color(), alpha=0.2)
      diverged = np.sum([[row['n_diverged'] for row in seed] for seed in seeds], axis=0)
      for step in steps[off]:
        top_ax.plot(step, top, marker='^', ms=8, color=line.get_color(), clip_on=False)
        top_ax.annotate(f'{diverged[step]}', (step, top), xytext=(0, 6),
                        textcoords='offset points', ha='center', fontsize=7,
                        color=line.get_color())
      median_ax.plot(steps, seed_average(seeds, 'median_all_tasks'), marker='o', ms=3,
                     color=line.get_color())
      if len(seeds) > 1:
        for seed in seeds:
          with np.errstate(invalid='ignore'):
            values = np.array([row['mean_all_tasks'] for row in seed])
            top_ax.plot(steps, np.where(values <= top, values, np.nan), color=line.get_color(),
                        lw=0.6, alpha=0.6)
          median_ax.plot(steps, [row['median_all_tasks'] for row in seed],
                         color=line.get_color(), lw=0.6, alpha=0.6)
    for label, values in (references or {}).get(title, {}).items():
      top_ax.plot(list(values), list(values.values()), ls='none', marker='X', ms=8,
                  mec='k', mew=0.6, color=color_of(label), label=label)
    top_ax.set_ylim(bottom, top)
    top_ax.plot([], [], 'k^', ms=6, ls='', label='mean off the scale; number of diverged tasks')
    top_ax.legend(fontsize=6, loc='lower left')
    for ax, ylabel, pad in ((top_ax, 'mean query MSE over all tasks, 95% CI', 16),
                            (median_ax, 'median query MSE over all tasks', 6)):
      ax.set_yscale('log')
      ax.set_title(title, fontsize=9, pad=pad)   # room for the diverged counts
      ax.set_xlabel('number of gradient steps')
      ax.set_ylabel(ylabel, fontsize=8)
  save(fig, path)


def save(fig, path):
  fig.tight_layout()
  write_figure(fig, path, dpi=DPI)
  plt.close(fig)


def write_figure(fig, path: str, **options):
  """fig.savefig(path), whole or not at all (fileio.atomic_open): a full disk
  mid-write keeps the old figure and names the file."""
  interrupts.check()    # a signal stops before the next figure is written
  with fileio.atomic_open(path, 'wb') as f:
    fig.savefig(f, format=os.path.splitext(path)[1][1:] or 'png', **options)


def formula(path: str, tex: str, fontsize: int = 16):
  """A formula rendered with matplotlib's mathtext to a tight PNG."""
  with matplotlib.rc_context({'mathtext.fontset': 'cm'}):   # the paper's typeface
    fig = plt.figure(figsize=(10, 1))
    fig.text(0.5, 0.5, tex, fontsize=fontsize, ha='center', va='center')
    write_figure(fig, path, dpi=FORMULA_DPI, bbox_inches='tight', pad_inches=0.08)
    plt.close(fig)


def families_figure(path: str, samples: Dict[str, tuple], columns: int = 5):
  """A few sampled tasks of each family: {name: (x [M], y [B, M])}."""
  num_rows = math.ceil(len(samples) / columns)
  fig, axes = plt.subplots(num_rows, columns, squeeze=False,
                           figsize=(PANEL_SIZE[0] * 0.8 * columns, PANEL_SIZE[1] * num_rows))
  for ax, (name, (x, y)) in zip(axes.flat, samples.items()):
    ax.plot(x, y.T, lw=1)
    ax.set_title(name)
    ax.set_xlabel('x')
  for ax in axes.flat[len(samples):]:
    ax.axis('off')
  save(fig, path)


@dataclasses.dataclass
class CurvePanel:
  """One task: ground truth and predictions on x [M], the support points, and
  the part of x never seen during adaptation (`unseen`, shaded)."""
  x: np.ndarray
  truth: np.ndarray
  support: tuple                         # (x [K], y [K])
  predictions: Dict[int, np.ndarray]     # step -> [M]
  unseen: tuple
  title: str


def draw_curve_panel(ax, panel: CurvePanel):
  ax.axvspan(*panel.unseen, color='0.9', label='never seen')
  ax.plot(panel.x, panel.truth, color='k', lw=2, label='ground truth')
  for step, prediction in panel.predictions.items():
    ax.plot(panel.x, prediction, STEP_STYLES.get(step, '-'),
            label=f'after {step} step' + ('' if step == 1 else 's'))
  ax.scatter(*panel.support, color='r', zorder=5, s=12, label=f'K={len(panel.support[0])}')
  low, high = np.min(panel.truth), np.max(panel.truth)
  margin = 0.5 * (high - low) + 1e-3   # diverged predictions must not hide the task
  ax.set_ylim(low - margin, high + margin)
  ax.set_title(panel.title, fontsize=8)
  ax.set_xlabel('x')


def draw_ecdf(ax, values: Dict[str, np.ndarray], threshold: float, title: str,
              limit: float = ECDF_LIMIT):
  """Cumulative fraction of tasks below each error; non-finite tasks never
  arrive. Errors above `limit` (diverged adaptations) are off the axis, and
  the title counts them, so they cannot squeeze the curves into a corner."""
  beyond = 0
  for label, v in values.items():
    v = np.sort(v)
    with np.errstate(invalid='ignore'):   # nan (diverged) counts as beyond
      beyond += int(np.sum(~(v <= limit)))
    ax.step(v, np.arange(1, v.size + 1) / v.size, where='post', label=label,
            color=color_of(label))
  ax.axvline(threshold, color='k', ls=':', lw=1)
  ax.set_xscale('log')
  if beyond:
    ax.set_xlim(right=limit)
    title += f' ({beyond} model-task errors > {limit:.0e} off the axis)'

  ax.set_ylim(0, 1)
  ax.set_xlabel('normalised MSE')
  ax.set_ylabel('fraction of tasks')
  ax.set_title(title, fontsize=8)


def percentile_figure(path: str, title: str, columns: List[List[CurvePanel]],
                      distributions: Dict[str, Dict[str, np.ndarray]], threshold: float):
  """Columns of task panels (one per model) and a last column of error ECDFs,
  one per protocol: {protocol title: {model label: per-task errors [B]}}."""
  num_rows = max(max(len(c) for c in columns), len(distributions))
  fig, axes = plt.subplots(num_rows, len(columns) + 1, squeeze=False,
                           figsize=(PANEL_SIZE[0] * (len(columns) + 1), PANEL_SIZE[1] * num_rows))
  for col, panels in enumerate(columns):
    for row, panel in enumerate(panels):
      draw_curve_panel(axes[row, col], panel)
  for row, (name, values) in enumerate(distributions.items()):
    draw_ecdf(axes[row, -1], values, threshold, name)
  axes[0, 0].legend(fontsize=6, loc='best')
  axes[0, -1].legend(fontsize=6, loc='lower right')
  fig.suptitle(title)
  fig.tight_layout(rect=(0, 0, 1, 0.96))
  write_figure(fig, path, dpi=DPI)
  plt.close(fig)


def boundary_figure(path: str, panels: List[dict], good: float, columns: int = 4,
                    clip: float = BOUNDARY_CLIP):
  """Error against distance from the paper's distribution, one panel each.

  panels: {'title', 'xlabel', 'magnitudes' [M], 'lines': {label: (values [M],
  line style, diverged counts [M] or None)}, 'lost': first magnitude where
  MAML's advantage is gone, or None}. Values above `clip` are drawn at `clip`
  as an upward triangle; a line's diverged counts are written beside its points.
  """
  num_rows = math.ceil(len(panels) / columns)
  fig, axes = plt.subplots(num_rows, columns, squeeze=False,
                           figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * num_rows))
  for panel, ax in zip(panels, axes.flat):
    for label, (values, style, diverged) in panel['lines'].items():
      values = np.asarray(values, dtype=float)
      ax.plot(panel['magnitudes'], np.minimum(values, clip), marker='o', ms=3,
              label=label, **style)
      off_scale = values > clip
      ax.plot(np.asarray(panel['magnitudes'])[off_scale], np.full(off_scale.sum(), clip),
              ls='none', marker='^', ms=7, color=style['color'])
      for m, value, count in zip(panel['magnitudes'], values, diverged or ()):
        if count:
          ax.annotate(f'{count} div.', (m, min(value, clip)), fontsize=6, color=style['color'],
                      xytext=(3, 3), textcoords='offset points')
    ax.axhline(good, color='k', ls=':', lw=1, label=f'fit well ({good:g})')
    ax.axhline(1.0, color='0.5', ls='-.', lw=1, label='predicting the mean (1)')
    ax.plot([], [], ls='none', marker='^', ms=7, color='0.3', label=f'above {clip:g}, drawn at it')
    if panel['lost'] is not None:
      ax.axvline(panel['lost'], color='r', lw=1, alpha=0.6,
                 label='MAML no longer beats pretrained')
    ax.set_yscale('log')
    ax.set_title(panel['title'], fontsize=8)
    ax.set_xlabel(panel['xlabel'], fontsize=8)
    ax.set_ylabel('median normalised MSE', fontsize=8)
  for ax in axes.flat[len(panels):]:   # the last row's unused places
    ax.axis('off')
  handles = {}
  for ax in axes.flat:
    for handle, label in zip(*ax.get_legend_handles_labels()):
      handles.setdefault(label, handle)
  fig.legend(list(handles.values()), list(handles), loc='lower center', ncol=4, fontsize=8)
  fig.tight_layout(rect=(0, LEGEND_SPACE, 1, 1))
  write_figure(fig, path, dpi=DPI)
  plt.close(fig)


HOW_FAR_FONT = 13       # drawn at 1,300 px wide, shown at ~900: about 9 pt on screen
HOW_FAR_SIZE = (13, 8.4)
# (line style, marker) per reference line, so that they differ without colour
REFERENCE_STYLES = {'pretrained': ('--', 's'), 'paper model': (':', '^'),
                    'family fit': ('-.', 'D')}


def how_far_figure(path: str, panels: List[dict], threshold: float, ylabel: str):
  """Percent of tasks fit well against the distance from the paper's
  distribution, one panel per axis (at most six, 2 x 3).

  panels: {'title', 'xlabel', 'magnitudes' [M] (drawn evenly spaced),
  'seeds': per magnitude, MAML's share per seed (percent; their number may
  differ between magnitudes), 'references': {label:
  [M]} (the baseline, the paper's model, the family fit), 'boundary': index
  of the last magnitude up to which MAML works for every seed (-1: none)}.
  MAML is the band between its seeds' lowest and highest share, its seeds'
  median (solid) and each seed (small dots); `threshold` (percent) is where a
  model "works" (its median error below the fit-well threshold).
  """
  columns = 3
  fig, axes = plt.subplots(math.ceil(len(panels) / columns), columns, squeeze=False,
                           figsize=HOW_FAR_SIZE, sharey=True)
  maml = color_of('MAML')
  for panel, ax in zip(panels, axes.flat):
    x = np.arange(len(panel['magnitudes']))
    seeds = panel['seeds']
    ax.fill_between(x, list(map(min, seeds)), list(map(max, seeds)), color=maml, alpha=0.2,
                    label='MAML retrained: range over seeds')
    for xi, shares in zip(x, seeds):
      ax.plot([xi] * len(shares), shares, ls='none', marker='.', ms=5, color=maml, alpha=0.6)
    ax.plot([], [], ls='none', marker='.', ms=5, color=maml, label='MAML retrained: each seed')
    ax.plot(x, list(map(np.median, seeds)), color=maml, lw=2.2, marker='o', ms=6,
            label='MAML retrained: median seed')
    for label, values in panel['references'].items():
      ls, marker = next(v for k, v in REFERENCE_STYLES.items() if k in label)
      ax.plot(x, values, ls=ls, marker=marker, ms=6, lw=1.6, color=color_of(label), label=label)
    ax.axhline(threshold, color='k', lw=0.8, ls=(0, (1, 3)))
    last = panel['boundary']
    if last < len(x) - 1:    # MAML stops working for every seed after `last`
      ax.axvspan(last + 0.5, len(x) - 0.5, color='0.92', zorder=0,
                 label='beyond the boundary: not every MAML seed works')
      ax.axvline(last + 0.5, color='0.4', lw=1.2, zorder=0)
    ax.set_xticks(x)
    ax.set_xticklabels([f'{m:g}' for m in panel['magnitudes']], fontsize=HOW_FAR_FONT)
    ax.tick_params(axis='y', labelsize=HOW_FAR_FONT)
    ax.set_ylim(-3, 103)
    ax.set_title(panel['title'], fontsize=HOW_FAR_FONT + 1)
    ax.set_xlabel(panel['xlabel'], fontsize=HOW_FAR_FONT)
  for ax in axes[:, 0]:
    ax.set_ylabel(ylabel, fontsize=HOW_FAR_FONT)
  for ax in axes.flat[len(panels):]:
    ax.axis('off')
  handles = {}
  for ax in axes.flat:
    for handle, label in zip(*ax.get_legend_handles_labels()):
      handles.setdefault(label, handle)
  handles[f'works: {threshold:g}% fit well'] = plt.Line2D([], [], color='k', lw=0.8,
                                                           ls=(0, (1, 3)))
  fig.legend(list(handles.values()), list(handles), loc='lower center', ncol=3,
             fontsize=HOW_FAR_FONT - 1, frameon=False)
  fig.tight_layout(rect=(0, 0.15, 1, 1))
  write_figure(fig, path, dpi=DPI + 10)
  plt.close(fig)


LIMIT_MARKERS = {'family fit': 'D', 'network': 's', 'wider network': 'P', 'baseline': 'X'}


def limits_figure(path: str, rows: Dict[str, dict], threshold: float, xlabel: str):
  """One row per point: percent of tasks fit well by each reference (a marker
  each, LIMIT_MARKERS: label -> value or None) and MAML's range over seeds
  (a bar from 'MAML low' to 'MAML high', a dot at 'MAML median')."""
  fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.8))
  y = np.arange(len(rows))[::-1]
  maml = color_of('MAML')
  for yi, row in zip(y, rows.values()):
    ax.plot([row['MAML low'], row['MAML high']], [yi, yi], color=maml, lw=5, alpha=0.35,
            solid_capstyle='butt')
    ax.plot(row['MAML median'], yi, 'o', color=maml, ms=8,
            label='MAML retrained: median seed (bar: range over seeds)')
    for offset, (label, marker) in enumerate(LIMIT_MARKERS.items()):
      if row.get(label) is not None:
        ax.plot(row[label], yi + 0.12 * (offset - 1.5), marker, ms=7, ls='none',
                color=color_of({'network': 'network fit', 'wider network': 'network fit',
                                'baseline': 'pretrained'}.get(label, label)),
                mfc='none' if label == 'wider network' else None, label=ROW_LABELS[label])
  ax.axvline(threshold, color='k', lw=0.8, ls=(0, (1, 3)))
  ax.set_yticks(y)
  ax.set_yticklabels(list(rows), fontsize=11)
  ax.set_xlim(-2, 102)
  ax.set_xlabel(xlabel, fontsize=11)
  ax.tick_params(axis='x', labelsize=11)
  handles = dict(zip(*reversed(ax.get_legend_handles_labels())))
  ax.legend(list(handles.values()), list(handles), loc='upper center', fontsize=10, ncol=2,
            bbox_to_anchor=(0.4, -0.1), frameon=False)
  fig.tight_layout()
  write_figure(fig, path, dpi=DPI + 10)
  plt.close(fig)


ROW_LABELS = {'family fit': 'family fit to the K points',
              'network': '1-40-40-1 network fit to each task',
              'wider network': 'wider network fit to each task (best)',
              'baseline': 'pretrained baseline, mean of its seeds'}


def bar_panels(path: str, groups: List[str], panels: Dict[str, Dict[str, tuple]],
               ylabel: str):
  """Grouped bars with 95% intervals, one panel each: {panel title: {series
  label: (value per group, [low, high] per group)}}. A zero bar is drawn as a
  short tick at 0, so that it is seen."""
  fig, axes = plt.subplots(1, len(panels), squeeze=False,
                           figsize=(PANEL_SIZE[0] * 1.6 * len(panels), PANEL_SIZE[1] * 1.4))
  for ax, (title, series) in zip(axes[0], panels.items()):
    width = 0.8 / len(series)
    used = set()
    for i, (label, (values, intervals)) in enumerate(series.items()):
      x = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
      values, intervals = np.asarray(values), np.asarray(intervals)
      color = color_of(label)
      ax.bar(x, values, width, label=label, color=color,
             hatch='//' if color in used else None)   # e.g. a second seed of one role
      used.add(color)
      ax.errorbar(x, values, yerr=[values - intervals[:, 0], intervals[:, 1] - values],
                  fmt='none', ecolor='k', elinewidth=0.7, capsize=1.5)
      zero = values == 0
      ax.plot(x[zero], np.zeros(zero.sum()), ls='none', marker='_', ms=8, mew=2, color=color)
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels(groups, fontsize=8, rotation=20)
    ax.set_ylim(-2, 100)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
  handles, labels = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, labels, loc='lower center', ncol=3, fontsize=8)
  fig.tight_layout(rect=(0, 2.5 * LEGEND_SPACE, 1, 1))
  write_figure(fig, path, dpi=DPI)
  plt.close(fig)
