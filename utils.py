"""Small helpers: one-line errors, quiet TensorFlow, threads, atomic files, the
code stamp of results, statistics and number formatting."""
import collections
import concurrent.futures
import contextlib
import csv
import functools
import glob
import hashlib
import io
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import warnings
from typing import Callable, ContextManager, Dict, List, Sequence, Tuple

import numpy as np

CI_Z = 1.96   # two-sided 95% normal quantile, as in the original evaluation
ROOT = os.path.dirname(os.path.abspath(__file__))


class CommandError(Exception):
  """A problem with the user's request or its files: reported in one line, no
  traceback, with `exit_code` (128 + the signal number for an interrupt)."""

  def __init__(self, message: str, exit_code: int = 1):
    super().__init__(message)
    self.exit_code = exit_code


def first_line(error: Exception) -> str:
  """TF errors carry pages of context; the first line says what went wrong."""
  text = getattr(error, 'message', None) or str(error)
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def quiet_tensorflow():
  """Silences TF 1.13's INFO, deprecation and numpy FutureWarning output."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  warnings.filterwarnings('ignore', category=FutureWarning)
  warnings.filterwarnings('ignore', category=DeprecationWarning)
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  tf.logging.set_verbosity(tf.logging.ERROR)
  from tensorflow.python.util import deprecation  # pylint: disable=import-outside-toplevel
  deprecation._PRINT_DEPRECATION_WARNINGS = False  # pylint: disable=protected-access
  return tf


WORKERS = 2    # threads working at once (utils.thread_map, grouped training): one per core


def thread_map(function, items, workers: int = WORKERS,
               per_worker: Callable[[], ContextManager] = None) -> list:
  """[function(item) for item in items], `workers` at a time in threads: each
  TF session.run releases the GIL, so the threads keep the cores busy. A free
  worker takes the next item, so list the costliest first. With `per_worker`,
  each worker enters per_worker() once and calls function(state, item) with
  what it yields (e.g. its own TF graphs). On an exception (in an item, or
  Ctrl-C in the main thread) the items not started are dropped and the running
  ones finish before it propagates."""
  pending, results = collections.deque(enumerate(items)), {}

  def work():
    with per_worker() if per_worker else contextlib.nullcontext() as state:
      while True:
        try:
          index, item = pending.popleft()
        except IndexError:    # every item is taken
          return
        try:
          results[index] = function(state, item) if per_worker else function(item)
        except BaseException:
          pending.clear()
          raise

  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    futures = [pool.submit(work) for _ in range(min(workers, len(pending)))]
    try:
      for future in futures:
        future.result()
    except BaseException:
      pending.clear()
      raise
  return [results[i] for i in range(len(results))]


def say(line: str):
  """Prints one whole line at once, so lines of concurrent threads do not mix."""
  sys.stdout.write(line + '\n')
  sys.stdout.flush()


def session_config(intra_threads: int = 1, inter_threads: int = 2):
  """One thread per op, two ops at once, the session's own pool: measured
  fastest for this tiny graph on 2 cores (`make benchmark`)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.ConfigProto(intra_op_parallelism_threads=intra_threads,
                        inter_op_parallelism_threads=inter_threads,
                        use_per_session_threads=True)


def proc_kilobytes(path: str, key: str):
  """A `key: N kB` line's N kB in bytes from a /proc file, or None."""
  try:
    with open(path) as f:
      for line in f:
        if line.startswith(key + ':'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def available_bytes() -> int:
  """Memory this process can still have: the machine's (MemAvailable, or the
  physical size), or less under an address-space limit (ulimit -v), minus
  what the process maps already."""
  machine = (proc_kilobytes('/proc/meminfo', 'MemAvailable')
             or os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES'))
  limit = resource.getrlimit(resource.RLIMIT_AS)[0]
  if limit == resource.RLIM_INFINITY:
    return machine
  return max(0, min(machine, limit - (proc_kilobytes('/proc/self/status', 'VmSize') or 0)))


def readable_bytes(count: float) -> str:
  return f'{count / 2 ** 30:.3g} GB' if count >= 2 ** 30 else f'{count / 2 ** 20:.3g} MB'


_batch = threading.local()    # this thread's replaced_together block: [(temporary, path)]


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'w'):
  """A file to write `path` through: written under a temporary name, synced,
  then renamed, so a reader never sees half a file, and a failed write (full
  disk, file-size limit, an exception while writing) leaves the old file and
  no temporary one; the error names `path`. Inside replaced_together() the
  rename waits for the end of that block."""
  tmp = f'{path}.tmp{os.getpid()}-{threading.get_ident()}'
  try:
    with open(tmp, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    batch = getattr(_batch, 'files', None)
    if batch is None:
      os.replace(tmp, path)
    else:
      batch.append((tmp, path))
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    if isinstance(e, OSError) and e.filename in (None, tmp):   # the file the user knows
      raise OSError(e.errno, e.strerror, path) from e
    raise


@contextlib.contextmanager
def replaced_together():
  """Files that belong together (an evaluation's statistics and per-task
  losses) are replaced together or not at all: within the block each
  atomic_open write waits under its temporary name, and only when the block
  ends without an error are they all renamed, in the order written. A nested
  block joins the outer one."""
  if getattr(_batch, 'files', None) is not None:
    yield
    return
  _batch.files = []
  try:
    yield
    while _batch.files:
      tmp, path = _batch.files.pop(0)
      os.replace(tmp, path)
  finally:
    for tmp, _ in _batch.files:    # the block failed: no file of the set is replaced
      with contextlib.suppress(OSError):
        os.remove(tmp)
    _batch.files = None


def atomic_write(path: str, text: str):
  """Writes `text` to `path` whole or not at all (atomic_open)."""
  with atomic_open(path) as f:
    f.write(text)


def check_writable(flag: str, path: str):
  """One line unless `path` (or the folder that would hold it) can be written,
  so a long run cannot fail at its last step; `flag` names the way out."""
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
    raise CommandError(f'--{flag}={path}: not writable ({e.strerror}); choose another --{flag}')


def can_write(folder: str) -> bool:
  """True if a file can be created in `folder` (a real write, as in check_writable)."""
  try:
    with tempfile.TemporaryFile(dir=folder):
      return True
  except OSError:
    return False


def json_text(data) -> str:
  return json.dumps(data, indent=1, sort_keys=True) + '\n'


def write_json(path: str, data):
  atomic_write(path, json_text(data))


def jsonable(data):
  """The value as it reads back from JSON (tuples become lists)."""
  return json.loads(json.dumps(data))


def read_json(path: str):
  with open(path) as f:
    return json.load(f)


def csv_text(header: Sequence[str], rows: List[Sequence]) -> str:
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator='\n')
  writer.writerow(header)
  writer.writerows(rows)
  return buffer.getvalue()


def write_csv(path: str, header: Sequence[str], rows: List[Sequence]):
  atomic_write(path, csv_text(header, rows))


def read_csv(path: str) -> List[Dict[str, str]]:
  with open(path) as f:
    return list(csv.DictReader(f))


@functools.lru_cache(maxsize=1)   # one record per process, even if files change meanwhile
def code_version() -> dict:
  """A digest of the project's Python sources and, if they are as committed,
  the last commit that changed them (so results regenerated at a later commit
  with the same code keep the same record)."""
  files = sorted(os.path.relpath(f, ROOT) for f in glob.glob(os.path.join(ROOT, '*.py'))
                 + glob.glob(os.path.join(ROOT, 'study', '*.py')))
  digest = hashlib.sha256()
  for name in files:
    with open(os.path.join(ROOT, name), 'rb') as f:
      digest.update(name.encode() + b'\0' + f.read())
  commit = None
  try:
    git = lambda *args: subprocess.run(['git', *args, '--', *files], cwd=ROOT,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       universal_newlines=True, check=True).stdout.strip()
    if not git('status', '--porcelain'):
      commit = git('log', '-1', '--format=%H') or None
  except (OSError, subprocess.CalledProcessError):
    pass    # not a git checkout: the digest alone names the code
  return {'sources_sha256': digest.hexdigest()[:16], 'git_commit': commit}


LINKED_DOCS = ('docs/PERFORMANCE.md', 'docs/ENGINEERING.md')   # beside the README


def markers(name: str) -> Tuple[str, str]:
  return f'<!-- {name} -->', f'<!-- /{name} -->'


def readme_texts(path: str) -> Dict[str, str]:
  """{file: text} of the README at `path` and those of its LINKED_DOCS that exist."""
  texts = {}
  for file in [path] + [os.path.join(os.path.dirname(path), d) for d in LINKED_DOCS]:
    if file == path or os.path.exists(file):
      with open(file) as f:
        texts[file] = f.read()
  return texts


def section_files(texts: Dict[str, str], names) -> Dict[str, str]:
  """{section: the file whose text holds its markers}; ValueError naming the
  sections without exactly one begin marker followed by one end marker, all
  in one file (a swapped or repeated pair would rewrite the wrong text)."""
  where, bad = {}, []
  for name in names:
    begin, end = markers(name)
    holding = [file for file, text in texts.items() if begin in text or end in text]
    text = texts[holding[0]] if len(holding) == 1 else ''
    if (len(holding) == 1 and text.count(begin) == 1 and text.count(end) == 1
        and text.index(begin) < text.index(end)):
      where[name] = holding[0]
    else:
      bad.append(name)
  if bad:
    raise ValueError(bad)
  return where


def update_readme(path: str, sections: Dict[str, str]):
  """Replaces the text between <!-- name --> and <!-- /name --> for each
  section, in the README at `path` or in the one of its LINKED_DOCS that holds
  the markers; every file is read and checked before any is written."""
  read = readme_texts(path)
  try:
    where = section_files(read, sections)
  except ValueError as e:
    raise ValueError(f'{path} and its linked docs have no single ordered '
                     f'<!-- name --> ... <!-- /name --> pair for {", ".join(e.args[0])}') from None
  texts = dict(read)
  for name, file in where.items():
    begin, end = markers(name)
    head, rest = texts[file].split(begin, 1)
    texts[file] = head + begin + '\n' + sections[name] + '\n' + end + rest.split(end, 1)[1]
  for file, text in texts.items():
    if text != read[file]:
      atomic_write(file, text)


DIVERGENCE_FACTOR = 100   # a loss this many times its pre-update loss: the adaptation blew up
LARGE = 1000              # numbers from here on are written in scientific notation
TINY = 1e-6               # numbers below this are rounding error (an exact fit), written <1e-06


def readable(value: float) -> str:
  """Three significant figures; 1000 or more in scientific notation, below TINY
  as <1e-06; inf and nan as such."""
  if not math.isfinite(value):
    return str(value)
  if 0 < abs(value) < TINY:
    return f'<{TINY:g}'
  return f'{value:.2e}' if abs(value) >= LARGE else f'{value:.3g}'


def diverged(losses: np.ndarray) -> np.ndarray:
  """Which adaptations diverged, [S + 1, B] from per-task losses [S + 1, B] whose
  row 0 is before adaptation: a loss that is not finite or grew above
  DIVERGENCE_FACTOR times the task's pre-update loss. The factor is far above
  what noise or an ordinary bad fit does (the shipped models' worst
  non-diverging tasks end near 10 times) and far below a blow-up (1e3 to inf)."""
  with np.errstate(invalid='ignore'):
    return ~np.isfinite(losses) | (losses > DIVERGENCE_FACTOR * losses[0])


def mean_ci(values: np.ndarray) -> Dict[str, float]:
  """Mean and 95% CI half-width (1.96 std / sqrt(n)) of all the values (inf or nan if any is)."""
  if not values.size:
    return {'mean': math.nan, 'ci95': math.nan}
  with np.errstate(invalid='ignore', over='ignore'):
    return {'mean': float(np.mean(values)),
            'ci95': float(CI_Z * np.std(values) / math.sqrt(values.size))}


def wilson_interval(successes: int, n: int) -> List[float]:
  """95% Wilson score interval of a binomial proportion successes / n."""
  if n == 0:
    return [0.0, 1.0]
  p, z2 = successes / n, CI_Z ** 2
  centre = (p + z2 / (2 * n)) / (1 + z2 / n)
  half = CI_Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
  return [max(0.0, centre - half), min(1.0, centre + half)]


def median_interval(values: np.ndarray) -> List[float]:
  """Distribution-free 95% interval of the median of values [n]: the order
  statistics whose ranks bound the binomial(n, 1/2) count of values below it
  (normal approximation); non-finite values sort last, as failures."""
  ordered = np.sort(np.where(np.isnan(values), np.inf, values))
  n = ordered.size
  half = CI_Z * math.sqrt(n) / 2    # ranks (1-based) floor(n/2 - half), ceil(n/2 + half) + 1
  low, high = max(0, math.floor(n / 2 - half) - 1), min(n - 1, math.ceil(n / 2 + half))
  return [float(ordered[low]), float(ordered[high])]


def loss_statistics(losses: np.ndarray) -> List[Dict[str, float]]:
  """Per-step statistics of per-task losses, each named for what it is over.

  Args:
    losses: [num_steps + 1, num_tasks]; row 0 is before any inner step.
  Returns:
    one dict per step: `mean_all_tasks` and `ci95_all_tasks` (the paper's
    statistic, 1.96 std / sqrt(n); inf or nan once one task is), the
    `median_all_tasks` (a non-finite task counts as +inf), `n_diverged` (see
    `diverged`), `mean_not_diverged` and `ci95_not_diverged` over the others,
    and the counts of tasks whose loss ended above its pre-update value
    (`n_worse`, finite ones) or is not finite (`n_nonfinite`).
  """
  stats = []
  blown = diverged(losses)
  for step, row in enumerate(losses):
    is_finite = np.isfinite(row)
    with np.errstate(invalid='ignore'):   # non-finite tasks have their own count
      n_worse = int(np.sum(is_finite & (row > losses[0])))
    every, kept = mean_ci(row), mean_ci(row[~blown[step]])
    stats.append({
        'step': step,
        'mean_all_tasks': every['mean'], 'ci95_all_tasks': every['ci95'],
        'median_all_tasks': float(np.median(np.where(is_finite, row, np.inf))),
        'n_diverged': int(np.sum(blown[step])),
        'mean_not_diverged': kept['mean'], 'ci95_not_diverged': kept['ci95'],
        'n_worse': n_worse, 'n_nonfinite': int(row.size - is_finite.sum()),
        'n_tasks': int(row.size),
    })
  return stats


def rounded_to_interval(mean: float, ci95: float) -> str:
  """'mean ± ci95' with the half-width to one significant digit (two if it
  starts with 1) and the mean to the same decimal place."""
  if not (math.isfinite(mean) and math.isfinite(ci95)) or ci95 <= 0 or abs(mean) >= LARGE:
    return f'{readable(mean)} ± {readable(ci95)}'
  exponent = math.floor(math.log10(ci95))
  digits = 2 if f'{ci95:e}'.startswith('1') else 1
  places = max(0, digits - 1 - exponent)
  return f'{mean:.{places}f} ± {ci95:.{places}f}'


def summary_text(row: dict) -> str:
  """One step's statistics in words: the paper's mean over all tasks, or, when
  some tasks diverged, the mean over the others with the count and the mean over all."""
  plain = (f"{readable(row['mean_all_tasks'])} ± {readable(row['ci95_all_tasks'])} "
           f"(median {readable(row['median_all_tasks'])})")
  if not row['n_diverged']:
    return plain
  return (f"{readable(row['mean_not_diverged'])} ± {readable(row['ci95_not_diverged'])} on "
          f"{row['n_tasks'] - row['n_diverged']} tasks, {row['n_diverged']} diverged (mean over "
          f"all {readable(row['mean_all_tasks'])}, median {readable(row['median_all_tasks'])})")
