"""Object key rendering: ``<bucket_path>/<path_format>/<file_name_format>`` with Airbyte's placeholders.

Placeholders (both in path_format and file_name_format; ``{name}`` or Airbyte's path style ``${NAME}``):

    {namespace} {stream_name}          the stream; S3-safe characters only, an empty namespace renders as ""
    {year} {month} {day} {hour} {minute} {second} {millisecond} {epoch}   the sync start, UTC
    {date}  yyyy_MM_dd of the sync start;  {date:PATTERN}  a Java DateTimeFormatter pattern (yyyy_MM, ...)
    {timestamp}   epoch ms when the part was started (differs per file, as Airbyte's)
    {part_number} a counter per stream, from 0       {sync_id}   the sync id ("" when unknown)
    {format_extension}  .csv / .jsonl, plus .gz       {uuid}      a random uuid4 per object

Unknown placeholders are left as written (as Airbyte does). Runs of "/" collapse to one and the key
never starts with "/", so an empty namespace or sync id leaves no empty path segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from ..config import DEFAULT_FILE_NAME_FORMAT, DEFAULT_PATH_FORMAT
from ..storage.names import s3_safe

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}|\{(\w+)(?::([^{}]*))?\}")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def java_date(pattern: str, moment: datetime) -> str:
    """Format ``moment`` with the Java DateTimeFormatter subset people use in paths.

    Letters: y/u (year; yy = two digits), M (MM padded, MMM Jan, MMMM January), d, H, m, s,
    S (fraction: SSS = ms). Text in single quotes is literal ('' is a quote). Other letters raise.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            literal, i = _quoted(pattern, i)
            out.append(literal)
            continue
        run = len(pattern) - i - len(pattern[i:].lstrip(ch)) if ch.isalpha() else 1
        out.append(_date_field(ch, run, moment, pattern) if ch.isalpha() else ch)
        i += run
    return "".join(out)


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    """The literal opened by the quote at ``start`` and the index after it; '' is a quote."""
    if pattern.startswith("''", start):
        return "'", start + 2
    out: list[str] = []
    i = start + 1
    while i < len(pattern):
        if pattern.startswith("''", i):
            out.append("'")
            i += 2
        elif pattern[i] == "'":
            return "".join(out), i + 1
        else:
            out.append(pattern[i])
            i += 1
    raise ValueError(f"unterminated quote in date pattern {pattern!r}")


def _date_field(letter: str, width: int, moment: datetime, pattern: str) -> str:
    if letter in "yu":
        return f"{moment.year % 100:02d}" if width == 2 else f"{moment.year:0{width}d}"
    if letter == "M":
        if width >= 4:
            return _MONTHS[moment.month - 1]
        return _MONTHS[moment.month - 1][:3] if width == 3 else f"{moment.month:0{width}d}"
    if letter == "S":
        return f"{moment.microsecond:06d}"[:width].ljust(width, "0")
    numbers = {"d": moment.day, "H": moment.hour, "m": moment.minute, "s": moment.second}
    if letter not in numbers:
        raise ValueError(f"unsupported letter {letter!r} in date pattern {pattern!r}")
    return f"{numbers[letter]:0{width}d}"


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str  # lower-case placeholder name
    arg: str | None  # the PATTERN of {date:PATTERN}
    text: str  # as written, for unknown placeholders


def _parse(template: str) -> list[str | _Slot]:
    pieces: list[str | _Slot] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        pieces.append(template[pos:match.start()])
        name = (match.group(1) or match.group(2)).lower()
        pieces.append(_Slot(name, match.group(3), match.group(0)))
        pos = match.end()
    pieces.append(template[pos:])
    return [p for p in pieces if p != ""]


class KeyTemplate:
    """Renders object keys for one store; sync-wide values are fixed at construction."""

    def __init__(self, bucket_path: str, path_format: str, file_name_format: str, *, extension: str,
                 sync_id: int | None, sync_time_ms: int) -> None:
        self._prefix = bucket_path
        self._path = _parse(path_format.strip() or DEFAULT_PATH_FORMAT)
        self._file = _parse(file_name_format.strip() or DEFAULT_FILE_NAME_FORMAT)
        sync_time = datetime.fromtimestamp(sync_time_ms / 1000, tz=timezone.utc)
        self._fixed = {
            "year": f"{sync_time.year:04d}", "month": f"{sync_time.month:02d}",
            "day": f"{sync_time.day:02d}", "hour": f"{sync_time.hour:02d}",
            "minute": f"{sync_time.minute:02d}", "second": f"{sync_time.second:02d}",
            # Airbyte pads {millisecond} to four digits; kept so keys match theirs
            "millisecond": f"{sync_time.microsecond // 1000:04d}",
            "epoch": str(sync_time_ms), "date": sync_time.strftime("%Y_%m_%d"),
            "sync_id": "" if sync_id is None else str(sync_id), "format_extension": extension,
        }
        self._sync_time = sync_time
        # render once now so a bad {date:PATTERN} fails at open / check, not mid-sync
        self.render(stream="s", namespace=None, part_number=0, timestamp_ms=0, uuid="u")

    def render(self, *, stream: str, namespace: str | None, part_number: int, timestamp_ms: int,
               uuid: str) -> str:
        values = dict(self._fixed)
        values.update(namespace=s3_safe(namespace or ""), stream_name=s3_safe(stream),
                      part_number=str(part_number), timestamp=str(timestamp_ms), uuid=uuid)
        path = self._fill(self._path, values)
        name = self._fill(self._file, values)
        key = re.sub(r"/+", "/", f"{self._prefix}/{path}/{name}")
        return key.lstrip("/")

    def _fill(self, pieces: list[str | _Slot], values: dict[str, str]) -> str:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
            elif piece.name == "date" and piece.arg is not None:
                out.append(java_date(piece.arg, self._sync_time))
            else:
                out.append(values.get(piece.name, piece.text))
        return "".join(out)

    @property
    def extension(self) -> str:
        return self._fixed["format_extension"]


_ANY = re.compile("[^/]*")  # stands for a placeholder whose value is not known when reading keys back


def stream_directory(path_format: str, stream: str, namespace: str | None) -> tuple[re.Pattern[str], int] | None:
    """The directories ``path_format`` renders for this stream, read backwards (``replay``): a pattern a
    file's directory (with a trailing "/") ends with when the file holds the stream's rows, and how many
    literal characters it pins (the more specific pattern wins when two streams match). The other
    placeholders match any one segment's text; a segment that is only placeholders may be absent (an
    empty sync id collapses). None when ``path_format`` does not name the stream."""
    pieces = _parse(path_format.strip() or DEFAULT_PATH_FORMAT)
    if not any(isinstance(p, _Slot) and p.name == "stream_name" for p in pieces):
        return None
    known = {"namespace": s3_safe(namespace or ""), "stream_name": s3_safe(stream)}
    segments: list[list[str | re.Pattern[str]]] = [[]]
    for piece in pieces:
        text = piece if isinstance(piece, str) else known.get(piece.name)
        if text is None:  # a placeholder: its value at write time is not known
            segments[-1].append(_ANY if piece.name in _RENDERED else piece.text)  # type: ignore[union-attr]
            continue
        first, *rest = text.split("/")
        segments[-1].append(first)
        segments.extend([part] for part in rest)
    pattern, pinned = "", 0
    for segment in segments:
        literal = "".join(p for p in segment if isinstance(p, str))
        if not any(isinstance(p, re.Pattern) for p in segment):
            if literal:
                pattern, pinned = pattern + re.escape(literal) + "/", pinned + len(literal)
        elif not literal:
            pattern += "(?:[^/]+/)?"
        else:
            pattern += "".join(p.pattern if isinstance(p, re.Pattern) else re.escape(p) for p in segment) + "/"
            pinned += len(literal)
    return re.compile(f"(?:^|/){pattern}$"), pinned


# The placeholders KeyTemplate fills (others are left as written, so they read back as written).
_RENDERED = frozenset({"year", "month", "day", "hour", "minute", "second", "millisecond", "epoch", "date",
                       "sync_id", "format_extension", "part_number", "timestamp", "uuid"})

