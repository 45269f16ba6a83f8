"""Download one file from a Hugging Face Hub (or a hub mirror) so that it survives interruptions.

huggingface_hub answers what the file is (size, SHA-256 from the hub's LFS
metadata) and streams it (`http_get`: Range requests, retries when the
connection drops mid-file). The partial file is ours and lives beside the
destination as `NAME.<sha>.part`: hub clients delete their partial files when
a call fails, but a 4 GB download interrupted by a closed laptop must resume on
the next `pull`, not start over. The finished file is hashed and renamed into
place only when its SHA-256 is the hub's; a part whose hash is wrong is deleted.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from esmc_desktop.errors import EsmcError
from esmc_desktop.files import sha256_file
from esmc_desktop.progress import Progress, ProgressCallback

_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadCancelled(EsmcError):
    """The user stopped the download; the partial file stays for the next pull."""


class HashMismatch(EsmcError):
    """The downloaded bytes are not the file the hub describes."""


@dataclass(frozen=True)
class RemoteFile:
    repo_id: str
    filename: str
    url: str
    size: int
    sha256: str


def remote_file(endpoint: str | None, repo_id: str, filename: str, revision: str = "main") -> RemoteFile:
    """Ask the hub (one HEAD request) for a file's size and SHA-256."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url)
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        if status == 404:
            raise EsmcError(f"{repo_id}/{filename} is not on {_host(url)} (404); the mirror may lack it") from exc
        raise EsmcError(f"{_host(url)} answered {status} for {repo_id}/{filename}; try again later") from exc
    except Exception as exc:  # httpx/requests connection errors differ across huggingface_hub versions
        raise EsmcError(f"cannot reach {_host(url)} ({type(exc).__name__}): check the network connection, "
                        f"or give files you already have with --from DIR") from exc
    sha = (meta.etag or "").strip('"').lower()
    if not _SHA256.fullmatch(sha) or meta.size is None:
        raise EsmcError(f"{_host(url)} gave no SHA-256 and size for {filename}, so it cannot be checked; "
                        f"use the Hugging Face Hub or a mirror that serves its LFS metadata")
    return RemoteFile(repo_id, filename, meta.location or url, int(meta.size), sha)


def _host(url: str) -> str:
    return url.split("/")[2] if "://" in url else url


def part_path(dest: Path, remote: RemoteFile) -> Path:
    """Where the unfinished bytes of `remote` wait; named by hash so a changed upstream file never mixes in."""
    return dest.with_name(f"{dest.name}.{remote.sha256[:12]}.part")


def bytes_present(dest: Path, remote: RemoteFile) -> int:
    """How much of `remote` is already on disk (all of it when `dest` is finished)."""
    if dest.is_file() and dest.stat().st_size == remote.size:
        return remote.size
    part = part_path(dest, remote)
    return part.stat().st_size if part.is_file() else 0


class _CountingWriter:
    """The file http_get writes into: reports progress and stops when asked to."""

    def __init__(self, f, name: str, done: int, total: int, progress: ProgressCallback | None,
                 cancel: threading.Event | None) -> None:
        self._f, self._name, self.done, self._total = f, name, done, total
        self._progress, self._cancel = progress, cancel

    def write(self, data: bytes) -> int:
        if self._cancel is not None and self._cancel.is_set():
            raise DownloadCancelled(f"the download of {self._name} stopped; downloading again resumes it")
        n = self._f.write(data)
        self.done += len(data)
        if self._progress is not None:
            self._progress(Progress("download", self.done, self._total, name=self._name))
        return n

    def __getattr__(self, name: str):
        return getattr(self._f, name)


def download(remote: RemoteFile, dest: Path, *, progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None) -> Path:
    """Fetch `remote` to `dest`, resuming a part left by an earlier try; the result's SHA-256 is the hub's."""
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    if dest.is_file() and dest.stat().st_size == remote.size and sha256_file(dest) == remote.sha256:
        return dest
    if dest.exists():
        raise EsmcError(f"{dest} exists and is not {remote.filename} from {remote.repo_id}; move it away first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f"{dest.name}.*.part"):  # parts of an older upstream version of the file
        if stale != part_path(dest, remote):
            stale.unlink()
    part = part_path(dest, remote)
    have = part.stat().st_size if part.is_file() else 0
    if have > remote.size:
        part.unlink()
        have = 0
    if have < remote.size:
        with part.open("ab") as f:
            writer = _CountingWriter(f, remote.filename, have, remote.size, progress, cancel)
            try:
                http_get(remote.url, writer, resume_size=have, headers=build_hf_headers(), expected_size=remote.size)
            except (DownloadCancelled, KeyboardInterrupt):
                raise
            except Exception as exc:  # a dropped connection after huggingface_hub's own retries
                raise EsmcError(f"the download of {remote.filename} broke off at "
                                f"{writer.done / 2**20:.0f} of {remote.size / 2**20:.0f} MiB ({type(exc).__name__}); "
                                f"run the same pull again to resume it") from exc
    if sha256_file(part) != remote.sha256:
        part.unlink()
        raise HashMismatch(f"{remote.filename} arrived damaged (its SHA-256 is not the hub's); the partial file was "
                           f"removed and nothing was registered. Run the pull again to download it afresh")
    os.replace(part, dest)
    return dest
