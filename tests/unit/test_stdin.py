"""Reading stdin in chunks of whole lines: split lines across reads, a final line without newline,
and an oversized line that is dropped (and turned into one unreadable line) without holding memory."""

from __future__ import annotations

import io

from destination_customer_io import stdin


async def collect(data: bytes, chunk: int) -> list[bytes]:
    lines: list[bytes] = []
    async for part in stdin.read_line_chunks(io.BufferedReader(io.BytesIO(data)), chunk):
        lines.extend(part)
    return lines


async def test_lines_survive_any_chunk_size() -> None:
    data = b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * (i * 7 % 50)) for i in range(200))
    expected = data.split(b"\n")[:-1]
    for chunk in (1, 7, 64, 1000, 1 << 20):
        assert await collect(data, chunk) == expected


async def test_last_line_without_newline_is_kept() -> None:
    assert await collect(b"a\nb", 1) == [b"a", b"b"]


async def test_oversized_line_becomes_one_unreadable_marker(monkeypatch) -> None:
    monkeypatch.setattr(stdin, "MAX_LINE_BYTES", 100)
    lines = await collect(b"first\n" + b"y" * 1000 + b"\nlast\n", 10)
    assert lines[0] == b"first" and lines[-1] == b"last"
    assert len(lines) == 3 and not lines[1].startswith(b"y")
