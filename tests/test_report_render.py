"""The HTML pages rendered by headless Chromium: the screenshots are not blank, the heatmap's
colours reach the screen, and the DOM Chromium built holds the expected rows.

Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it these tests skip,
except under CI, where they fail. The PNG is read with the standard library only.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from rulecat.index.pages import heatmap, technique

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-color-profile=srgb")
WHITE = b"\xff\xff\xff"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium not found (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_chromium(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run with a fresh profile; no network, no first-run chatter."""
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    # HOME too: Chromium keeps some state under ~/.config whatever the profile folder.
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=True,
                          env={**os.environ, "HOME": str(tmp_path)})


def screenshot(chromium: str, page: Path, size: tuple[int, int]) -> Path:
    png = page.with_suffix(".png")
    run_chromium(chromium, page.parent, f"--screenshot={png}",
                 f"--window-size={size[0]},{size[1]}", page.as_uri())
    return png


def read_png(path: Path) -> tuple[int, list[bytes]]:
    """(width, rows of RGB bytes) of an 8-bit RGB or RGBA PNG, alpha dropped."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            header = data[pos + 8:pos + 8 + length]
        elif kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format {depth}/{colour}"
    bpp = 3 if colour == 2 else 4
    rows = unfilter(zlib.decompress(b"".join(idat)), width * bpp, height, bpp)
    if bpp == 4:
        rows = [b"".join(r[i:i + 3] for i in range(0, len(r), 4)) for r in rows]
    return width, rows


def unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride) if kind else ():
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 255
            else:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 255
        rows.append(bytes(line))
        prev = line
    return rows


def pixel_stats(rows: list[bytes]) -> tuple[set[bytes], float]:
    """(distinct colours, share of pixels that are not white)."""
    colours: set[bytes] = set()
    not_white = total = 0
    for row in rows:
        for i in range(0, len(row), 3):
            pixel = row[i:i + 3]
            colours.add(pixel)
            not_white += pixel != WHITE
            total += 1
    return colours, not_white / total


@pytest.fixture(scope="module")
def pages(catalog, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # type: ignore
    folder = tmp_path_factory.mktemp("pages")
    written = {"t1559": technique.technique_page(catalog, "T1559.001"),
               "heatmap": heatmap.heatmap_page(catalog)}
    for name, text in written.items():
        (folder / f"{name}.html").write_text(text, encoding="utf-8")
    return {name: folder / f"{name}.html" for name in written}


def test_technique_page_screenshot_is_not_blank(chromium: str, pages: dict[str, Path]) -> None:
    started = time.perf_counter()
    width, rows = read_png(screenshot(chromium, pages["t1559"], (1200, 1000)))
    seconds = time.perf_counter() - started
    colours, ink = pixel_stats(rows)
    assert (width, len(rows)) == (1200, 1000)
    assert len(colours) > 100, f"only {len(colours)} colours"
    assert 0.05 < ink < 0.9, f"{ink:.0%} of pixels are not white"
    assert seconds < 60


def test_heatmap_screenshot_shows_the_count_colours(chromium: str, pages: dict[str, Path]) -> None:
    width, rows = read_png(screenshot(chromium, pages["heatmap"], (1700, 1100)))
    colours, ink = pixel_stats(rows)
    assert ink > 0.3, f"only {ink:.0%} of pixels are not white"
    bands = {bytes.fromhex(background[1:]) for _, background, _ in heatmap.BUCKETS}
    shown = bands & colours
    assert len(shown) >= 6, f"only {len(shown)} of {len(bands)} colour bands on screen"


def test_chromium_dom_holds_the_expected_rows(chromium: str, pages: dict[str, Path]) -> None:
    dom = run_chromium(chromium, pages["t1559"].parent, "--dump-dom",
                       pages["t1559"].as_uri()).stdout
    assert dom.count('<article class="rule"') == 17
    for title in ("CMSTP Execution Process Access", "DNS Query Request By Regsvr32.EXE",
                  "Network Connection Initiated By Regsvr32.EXE",
                  "Dllhost.EXE Initiated Network Connection To Non-Local IP Address",
                  "Process Writing DynamicWrapperX"):
        assert title in dom
    for event in ("<td>Network connection</td>", "<td>ProcessAccess</td>",
                  "<td>DNSEvent (DNS query)</td>"):
        assert event in dom
    heat = run_chromium(chromium, pages["heatmap"].parent, "--dump-dom",
                        pages["heatmap"].as_uri()).stdout
    assert heat.count('<section class="tactic"') == 14
    assert "Inter-Process Communication" in heat
