"""README sections between <!-- name --> and <!-- /name --> markers, in the
README or the docs it links, rewritten from generated text."""
import os
from typing import Dict, Tuple

from common.fileio import atomic_write, read_text

LINKED_DOCS = ('docs/PERFORMANCE.md', 'docs/ENGINEERING.md')   # beside the README


def markers(name: str) -> Tuple[str, str]:
  return f'<!-- {name} -->', f'<!-- /{name} -->'


def readme_texts(path: str) -> Dict[str, str]:
  """{file: text} of the README at `path` and those of its LINKED_DOCS that exist."""
  texts = {}
  for file in [path] + [os.path.join(os.path.dirname(path), d) for d in LINKED_DOCS]:
    if file == path or os.path.exists(file):
      texts[file] = read_text(file)
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
