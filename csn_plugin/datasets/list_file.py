"""Read a video list file as text, naming the file and line of what is wrong
with it.

mmengine's ``list_from_file`` decodes the whole file as UTF-8 and lets the
``UnicodeDecodeError`` through (``'utf-8' codec can't decode byte 0xe9 in
position 57``): no file name, no line. It also keeps a byte-order mark
(BOM) as the first character of the first path, which then names a file that
does not exist.
"""
import logging
from typing import List, Tuple

from mmengine.fileio import get
from mmengine.logging import print_log

__all__ = ['read_list_file']

# Byte-order marks of the encodings an editor may have saved a list in.
_UTF16_BOMS = (b'\xff\xfe', b'\xfe\xff')
_UTF8_BOM = '\ufeff'


def _decode_error(path: str, data: bytes, encoding: str,
                  err: UnicodeDecodeError) -> ValueError:
    """Where the undecodable byte is: line, column and value."""
    line_start = data.rfind(b'\n', 0, err.start) + 1
    lineno = data.count(b'\n', 0, err.start) + 1
    column = err.start - line_start + 1
    if data.startswith(_UTF16_BOMS) and not encoding.lower().startswith(
            'utf-16'):
        fix = ('The file starts with a UTF-16 byte-order mark: save it as '
               "UTF-8 or set the dataset's encoding='utf-16'.")
    else:
        fix = (f"Save the list as {encoding} or set the dataset's encoding "
               "(e.g. encoding='latin-1').")
    return ValueError(
        f'{path}:{lineno}: not valid {encoding} text: byte '
        f'0x{data[err.start]:02x} at column {column} ({err.reason}). {fix}')


def read_list_file(path: str,
                   encoding: str = 'utf-8') -> List[Tuple[int, str]]:
    """Read a list file; return its lines with their 1-based numbers.

    Lines end at ``\\n``; a ``\\r`` before it (Windows line ends) is
    dropped. A UTF-8 byte-order mark at the start of the file is dropped with
    a warning naming the file.

    Args:
        path (str): The list file (any mmengine file backend).
        encoding (str): Its text encoding. Defaults to ``'utf-8'``.

    Returns:
        list[tuple[int, str]]: ``(line number, line)`` for every line,
        blank ones included, so that numbers match an editor's.

    Raises:
        ValueError: The file is not valid ``encoding`` text; the message
            names the file, line, column and byte.
    """
    data = get(path)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise _decode_error(path, data, encoding, err) from None
    if text.startswith(_UTF8_BOM):
        text = text[1:]
        print_log(
            f'{path}:1: starts with a UTF-8 byte-order mark (BOM); '
            'ignored it.',
            logger='current',
            level=logging.WARNING)
    lines = text.split('\n')
    if lines and lines[-1] == '':  # the newline that ends the last line
        lines.pop()
    return [(number, line[:-1] if line.endswith('\r') else line)
            for number, line in enumerate(lines, 1)]
