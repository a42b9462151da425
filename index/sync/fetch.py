"""Download one archive or bundle over HTTPS with httpx2 (the HTTP client mcp brings).

The body streams into a temporary file beside its destination while its SHA-256 is taken;
the download then checks that every byte the server announced arrived, and that size and
SHA-256 match the config's when it gives them. Any failure deletes the temporary file and
raises a `DownloadError` naming the URL, what happened and how many bytes had arrived.
Redirects are followed (GitHub archive URLs redirect to codeload), each hop held to the
same rule as the first URL: https, or http on a loopback host only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx2

from .config import check_url, is_loopback
from .errors import ChecksumMismatch, ConfigError, DownloadError

# Far above any rule repository's archive (SigmaHQ's is ~40 MB) or ATT&CK bundle (~50 MB);
# it stops a server that streams without end.
MAX_DOWNLOAD_BYTES = 1 << 30
CHUNK_BYTES = 1 << 16
TIMEOUT_SECONDS = 60.0

# Called with (bytes received, bytes announced or None) as a download streams.
DownloadProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Downloaded:
    """A finished, verified download: the temporary file is the caller's to move or delete."""

    path: Path
    bytes: int
    sha256: str
    url: str  # the final URL, after redirects


def download(
    url: str,
    dest_dir: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    progress: DownloadProgress | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Downloaded:
    """Stream `url` into a new file in `dest_dir` and verify it; see the module docstring."""
    check_url(url)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".download-", dir=dest_dir)
    state = _Received()
    try:
        with os.fdopen(fd, "wb") as out, _client(url, timeout) as client:
            final = _stream(client, url, out, state, max_bytes, progress)
        _verify(url, state.bytes, state.digest.hexdigest(), sha256, size)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Downloaded(Path(name), state.bytes, state.digest.hexdigest(), final)


class _Received:
    """Bytes and digest so far, kept outside the stream so errors can say how far it got."""

    def __init__(self) -> None:
        self.bytes = 0
        self.digest = hashlib.sha256()


def _client(url: str, timeout: float) -> httpx2.Client:
    # Proxy settings from the environment would send loopback test traffic to a proxy.
    local = is_loopback(urlsplit(url).hostname)
    return httpx2.Client(
        follow_redirects=True, timeout=httpx2.Timeout(timeout), trust_env=not local,
        headers={"User-Agent": "rulecat-sync"}, event_hooks={"request": [_check_hop]},
    )


def _check_hop(request: httpx2.Request) -> None:
    """Every request, redirects included, must be https (or http on loopback)."""
    try:
        check_url(str(request.url))
    except ConfigError as exc:
        raise DownloadError(f"refused a redirect: {exc}") from None


def _stream(
    client: httpx2.Client, url: str, out: BinaryIO, state: _Received, max_bytes: int,
    progress: DownloadProgress | None,
) -> str:
    """Write the body to `out`; the final URL. Transport errors become DownloadError."""
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise DownloadError(f"{url}: HTTP {response.status_code} "
                                    f"{response.reason_phrase}".rstrip())
            announced = _announced(response)
            if announced is not None and announced > max_bytes:
                raise DownloadError(f"{url}: {announced:,} bytes announced, over the "
                                    f"{max_bytes:,}-byte limit")
            for chunk in response.iter_bytes(CHUNK_BYTES):
                _take(chunk, out, state, url, max_bytes)
                if progress:
                    progress(state.bytes, announced)
            if announced is not None and state.bytes != announced:
                raise DownloadError(f"{url}: the connection closed after {state.bytes:,} of "
                                    f"{announced:,} bytes; try again")
            return str(response.url)
    except httpx2.TimeoutException:
        raise DownloadError(f"{url}: timed out after {state.bytes:,} bytes; "
                            "try again") from None
    except httpx2.HTTPError as exc:
        raise DownloadError(f"{url}: download failed after {state.bytes:,} bytes "
                            f"({type(exc).__name__}: {exc}); try again") from None


def _announced(response: httpx2.Response) -> int | None:
    """Content-Length when it counts the bytes we store (not a compressed transfer)."""
    if response.headers.get("content-encoding", "identity") != "identity":
        return None
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _take(chunk: bytes, out: BinaryIO, state: _Received, url: str, max_bytes: int) -> None:
    state.bytes += len(chunk)
    if state.bytes > max_bytes:
        raise DownloadError(f"{url}: more than {max_bytes:,} bytes; refused")
    state.digest.update(chunk)
    out.write(chunk)


def _verify(where: str, got: int, digest: str, sha256: str | None, size: int | None) -> None:
    """Size and SHA-256 against the config's, when it gives them."""
    hint = "the file changed upstream, or the config is out of date"
    if size is not None and got != size:
        raise ChecksumMismatch(f"{where}: {got:,} bytes, but the config says {size:,}; {hint}")
    if sha256 is not None and digest != sha256:
        raise ChecksumMismatch(f"{where}: SHA-256 {digest}, but the config says {sha256}; "
                               f"{hint}")


def verify_file(path: Path, sha256: str | None, size: int | None) -> tuple[int, str]:
    """(size, SHA-256) of a local archive, checked against the config's like a download."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    got = path.stat().st_size
    _verify(str(path), got, digest, sha256, size)
    return got, digest
