"""Small helpers every layer needs: one-line errors, quiet TensorFlow,
threads, memory probing and the code stamp of results. Files, statistics and
README sections have their own modules in common/."""
import collections
import concurrent.futures
import contextlib
import functools
import glob
import hashlib
import os
import resource
import subprocess
import sys
import warnings
from typing import Callable, ContextManager

ROOT = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ('common', 'run', 'paper', 'study', 'publish')   # the code's folders, lowest layer first


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


@functools.lru_cache(maxsize=1)   # one record per process, even if files change meanwhile
def code_version() -> dict:
  """A digest of the project's Python sources and, if they are as committed,
  the last commit that changed them (so results regenerated at a later commit
  with the same code keep the same record)."""
  files = sorted(os.path.relpath(f, ROOT) for folder in ('',) + PACKAGES
                 for f in glob.glob(os.path.join(ROOT, folder, '*.py')))
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


