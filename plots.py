"""Figures, drawn from saved results and checkpoint predictions (never from training)."""
import dataclasses
import math
from typing import Dict, List, Sequence

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

STEP_STYLES = {0: ':', 1: '--'}   # later steps: solid
PANEL_SIZE = (3.6, 2.8)
DPI = 90
LEGEND_SPACE = 0.08   # fraction of a figure's height kept for a shared legend
BOUNDARY_CLIP = 10.0
ECDF_LIMIT = 1e4      # normalised MSE beyond which an adaptation has clearly diverged


@dataclasses.dataclass
class Panel:
  """One task adapted by one model.

  tasks: the dict of experiment.evaluation_tasks; b: which task;
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


def learning_curves(path: str, panels: Dict[str, Dict[str, List[dict]]],
                    statistics: Dict[str, str]):
  """MSE against inner steps: one column per K, one row per statistic (log scale).

  Args:
    panels: {panel title: {method label: [per-step statistics of each seed]}},
      statistics as utils.loss_statistics writes them. The line is the mean
      over seeds, thin lines the individual seeds; the 'mean' row also shades
      the seeds' average 95% CI.
    statistics: {statistic key: y label}, e.g. {'mean': ..., 'median': ...}.
  """
  fig, axes = plt.subplots(len(statistics), len(panels), squeeze=False,
                           figsize=(PANEL_SIZE[0] * 1.3 * len(panels),
                                    PANEL_SIZE[1] * 1.2 * len(statistics)))
  for row_axes, (key, ylabel) in zip(axes, statistics.items()):
    for ax, (title, curves) in zip(row_axes, panels.items()):
      for label, seeds in curves.items():
        steps = [row['step'] for row in seeds[0]]
        values = np.array([[row[key] for row in seed] for seed in seeds])
        line, = ax.plot(steps, values.mean(axis=0), marker='o', ms=3,
                        label=label + (f' ({len(seeds)} seeds)' if len(seeds) > 1 else ''))
        if key == 'mean':
          ci = np.array([[row['ci95'] for row in seed] for seed in seeds]).mean(axis=0)
          ax.fill_between(steps, np.maximum(values.mean(axis=0) - ci, 0),
                          values.mean(axis=0) + ci, color=line.get_color(), alpha=0.2)
        if len(seeds) > 1:
          for seed_values in values:
            ax.plot(steps, seed_values, color=line.get_color(), lw=0.6, alpha=0.6)
      ax.set_title(title)
      ax.set_xlabel('number of gradient steps')
      ax.set_ylabel(ylabel)
      ax.set_yscale('log')
  axes[0, 0].legend(fontsize=7)
  save(fig, path)


def save(fig, path):
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)
  plt.close(fig)


def families_figure(path: str, samples: Dict[str, tuple]):
  """A few sampled tasks of each family: {name: (x [M], y [B, M])}."""
  fig, axes = plt.subplots(1, len(samples), squeeze=False,
                           figsize=(PANEL_SIZE[0] * 0.8 * len(samples), PANEL_SIZE[1]))
  for ax, (name, (x, y)) in zip(axes[0], samples.items()):
    ax.plot(x, y.T, lw=1)
    ax.set_title(name)
    ax.set_xlabel('x')
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
    ax.step(v, np.arange(1, v.size + 1) / v.size, where='post', label=label)
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
  fig.savefig(path, dpi=DPI)
  plt.close(fig)


def boundary_figure(path: str, panels: List[dict], good: float, columns: int = 4,
                    clip: float = BOUNDARY_CLIP):
  """Error against distance from the paper's distribution, one panel each.

  panels: {'title', 'xlabel', 'magnitudes' [M], 'lines': {label: (values [M],
  line style)}, 'lost': first magnitude where MAML's advantage is gone, or None}.
  Values above `clip` (diverged adaptation) are drawn at `clip`.
  """
  num_rows = math.ceil(len(panels) / columns)
  fig, axes = plt.subplots(num_rows, columns, squeeze=False,
                           figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * num_rows))
  for panel, ax in zip(panels, axes.flat):
    for label, (values, style) in panel['lines'].items():
      ax.plot(panel['magnitudes'], np.minimum(values, clip), marker='o', ms=3,
              label=label, **style)
    ax.axhline(good, color='k', ls=':', lw=1, label=f'fit well ({good:g})')
    ax.axhline(1.0, color='0.5', ls='-.', lw=1, label='predicting the mean (1)')
    if panel['lost'] is not None:
      ax.axvline(panel['lost'], color='r', lw=1, alpha=0.6,
                 label='MAML no longer beats pretrained')
    ax.set_yscale('log')
    ax.set_title(panel['title'], fontsize=8)
    ax.set_xlabel(panel['xlabel'], fontsize=8)
    ax.set_ylabel('median normalised MSE', fontsize=8)
  handles = {}
  for ax in axes.flat:
    for handle, label in zip(*ax.get_legend_handles_labels()):
      handles.setdefault(label, handle)
  fig.legend(list(handles.values()), list(handles), loc='lower center', ncol=4, fontsize=8)
  fig.tight_layout(rect=(0, LEGEND_SPACE, 1, 1))
  fig.savefig(path, dpi=DPI)
  plt.close(fig)


def bar_panels(path: str, groups: List[str], panels: Dict[str, Dict[str, List[float]]],
               ylabel: str):
  """Grouped bars, one panel each: {panel title: {series label: value per group}}."""
  fig, axes = plt.subplots(1, len(panels), squeeze=False,
                           figsize=(PANEL_SIZE[0] * 1.6 * len(panels), PANEL_SIZE[1] * 1.3))
  for ax, (title, series) in zip(axes[0], panels.items()):
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
      ax.bar(np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width, values, width,
             label=label)
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels(groups, fontsize=8, rotation=20)
    ax.set_ylim(0, 100)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
  handles, labels = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, labels, loc='lower center', ncol=3, fontsize=8)
  fig.tight_layout(rect=(0, 2 * LEGEND_SPACE, 1, 1))
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
