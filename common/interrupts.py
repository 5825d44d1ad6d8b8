"""Ctrl-C and SIGTERM mean now.

The handler only records the signal: an exception raised from a handler lands
wherever the main thread is, and inside a TensorFlow call TF 1.13 can turn it
into a traceback (`TypeError: Cannot interpret feed_dict key`). The work asks
`caught()` or calls `check()` between session.run calls, and keeps each call
short (training sizes its runs, evaluation runs batches), so a stop comes
within seconds.

Python runs handlers in the main thread only between two of its own steps,
so while that thread is inside a TF call a watcher thread, woken by the
signal itself (signal.set_wakeup_fd), says at once that the work is stopping,
and ends the process at a second signal: what was saved stays whole
(checkpoints and results files are written to a temporary name, then renamed).
Work that writes nothing and that no check can cut short (`at_once`) ends at
the first signal.
"""
import contextlib
import os
import signal
import threading
from typing import Optional

from utils import CommandError

SIGNALS = (signal.SIGINT, signal.SIGTERM)
STDOUT, STDERR = 1, 2   # file descriptors: sys.stdout may be replaced (pytest) or mid-write
# recording: inside a recording() block; signal: the first one caught;
# at_once: what the main thread is doing inside an at_once() block.
_state = {'recording': False, 'signal': None, 'at_once': None}


class Stopped(CommandError):
  """SIGINT or SIGTERM came: the work stopped between two session runs."""

  def __init__(self, signum: int):
    super().__init__(f'{signal.Signals(signum).name}: stopped; files already written are '
                     'complete (each is written to a temporary name, then renamed)', 128 + signum)


def _record(signum, _frame):
  """The handler, in the main thread: the first signal is the one reported."""
  _state['signal'] = _state['signal'] or signum


def _say(fd: int, line: str):
  with contextlib.suppress(OSError):    # a closed stdout must not end the watcher
    os.write(fd, line.encode())


def _watch(wakeups: int):
  """Reads the number of each signal as it comes (until the block ends)."""
  count = 0
  while True:
    data = os.read(wakeups, 1)
    if not data:
      return
    signum = data[0]
    if signum not in SIGNALS:
      continue
    count += 1
    name = signal.Signals(signum).name
    if count == 1 and _state['at_once']:
      _say(STDERR, f'error: {name} while {_state["at_once"]}: stopped at once, nothing was '
                   'being written\n')
      os._exit(128 + signum)  # pylint: disable=protected-access
    if count == 1:
      _state['signal'] = _state['signal'] or signum
      _say(STDOUT, f'{name}: stopping after the current step (a few seconds); send it again '
                   'to stop at once\n')
    else:
      _say(STDERR, f'error: {name} again: stopped at once; the last saved checkpoint and '
                   'results files are whole\n')
      os._exit(128 + signum)  # pylint: disable=protected-access


@contextlib.contextmanager
def recording():
  """Within the block SIGINT and SIGTERM are recorded for `caught` and `check`,
  and a second one ends the process (only the main thread can set handlers;
  an inner block or another thread shares the outer one's record); the old
  handlers come back after."""
  if _state['recording'] or threading.current_thread() is not threading.main_thread():
    yield
    return
  _state.update(recording=True, signal=None)
  wakeups, wake = os.pipe()
  os.set_blocking(wake, False)    # set_wakeup_fd's requirement: a signal never blocks
  previous_fd = signal.set_wakeup_fd(wake)
  previous = {sig: signal.signal(sig, _record) for sig in SIGNALS}
  watcher = threading.Thread(target=_watch, args=(wakeups,), daemon=True)
  watcher.start()
  try:
    yield
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
    signal.set_wakeup_fd(previous_fd)
    os.close(wake)      # the watcher reads the end of the pipe and returns
    watcher.join()
    os.close(wakeups)
    _state.update(recording=False, signal=None)    # the signal belonged to this block


@contextlib.contextmanager
def at_once(what: str):
  """Within the block (in the main thread, while recording) a signal ends the
  process at once: for work that writes nothing and that no check can cut
  short, such as building a graph of many unrolled steps (minutes) or the
  benchmark's measurements. `what`: the work, in words for the error line."""
  if not _state['recording'] or threading.current_thread() is not threading.main_thread():
    yield
    return
  check()     # a signal before the block stops here, as it would have after
  _state['at_once'] = what
  try:
    yield
  finally:
    _state['at_once'] = None


def caught() -> Optional[int]:
  """The signal number recorded in the current block, or None."""
  return _state['signal']


def check():
  """Raises Stopped if a signal was recorded: call it between session runs."""
  if _state['signal']:
    raise Stopped(_state['signal'])
