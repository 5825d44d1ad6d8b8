"""Files written whole: atomic writes, sets of files replaced together, JSON
and CSV, and checks that a folder can be written before a long run starts."""
import contextlib
import csv
import io
import json
import os
import stat
import tempfile
import threading
from typing import Dict, Iterable, List, Sequence, Tuple

from utils import CommandError

ENCODING = 'utf-8'    # every text file, whatever the locale says
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
    # A new file, never through a link planted under the temporary's name.
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with open(descriptor, mode, **({} if 'b' in mode else {'encoding': ENCODING})) as f:
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
    replace_all(_batch.files)
  finally:
    for tmp, _ in _batch.files:    # the block failed: no file of the set is replaced
      with contextlib.suppress(OSError):
        os.remove(tmp)
    _batch.files = None


def replace_all(pending: List[Tuple[str, str]]):
  """Renames each (temporary, path) of `pending`, in order, all or none: each
  path's old file is kept under a hard link until every rename is done, and
  put back if one fails (a file that cannot be replaced, e.g. immutable)."""
  done = []    # (path, its old file's link, or None for a new path)
  suffix = f'.old{os.getpid()}-{threading.get_ident()}'
  try:
    while pending:
      tmp, path = pending[0]
      old = path + suffix if os.path.lexists(path) else None
      if old:
        os.link(path, old, follow_symlinks=False)
      try:
        os.replace(tmp, path)
      except BaseException:
        if old:
          os.remove(old)
        raise
      done.append((path, old))
      pending.pop(0)
  except BaseException:
    for path, old in reversed(done):
      with contextlib.suppress(OSError):
        if old:
          os.replace(old, path)
        else:
          os.remove(path)
    done.clear()
    raise
  finally:
    for _, old in done:
      if old:
        with contextlib.suppress(OSError):
          os.remove(old)


def check_regular(path: str):
  """A ValueError unless `path` is a regular file, not a link: a named pipe
  would hang a reader, a link would lead outside the folder."""
  mode = os.lstat(path).st_mode
  if not stat.S_ISREG(mode):
    kind = 'a symbolic link' if stat.S_ISLNK(mode) else 'not a regular file'
    raise ValueError(f'{path} is {kind}')


def read_text(path: str) -> str:
  check_regular(path)
  with open(path, encoding=ENCODING) as f:
    return f.read()


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


def write_record(path: str, record: dict, keys: Sequence[str]):
  """write_json of a results file whose schema is `keys`: the keys every
  reader needs, which its writer must hold (the checks read the same tuple)."""
  missing = [key for key in keys if key not in record]
  if missing:
    raise ValueError(f'{path}: the record lacks {", ".join(missing)}')
  write_json(path, record)


def jsonable(data):
  """The value as it reads back from JSON (tuples become lists)."""
  return json.loads(json.dumps(data))


def read_json(path: str):
  return json.loads(read_text(path))


def csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator='\n')
  writer.writerow(header)
  writer.writerows(rows)
  return buffer.getvalue()


def write_csv(path: str, header: Sequence[str], rows: List[Sequence]):
  atomic_write(path, csv_text(header, rows))


def read_csv(path: str) -> List[Dict[str, str]]:
  return list(csv.DictReader(io.StringIO(read_text(path))))
