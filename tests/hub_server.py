"""A Hugging Face-style file server on 127.0.0.1 for the `models pull` tests.

It answers what huggingface_hub asks of the hub for one file: HEAD and GET on
/{repo}/resolve/{revision}/{file}, with the hub's headers (X-Linked-Etag is the
file's SHA-256, X-Linked-Size its size, X-Repo-Commit) and Range requests. It
can misbehave on purpose: cut a connection midway, advertise a wrong hash or
an impossible size. Every request is logged with its Range header.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFiles:
    files: dict[str, bytes] = field(default_factory=dict)  # "repo/id/filename" -> bytes
    advertised_sha: dict[str, str] = field(default_factory=dict)  # lie about a file's hash
    advertised_size: dict[str, int] = field(default_factory=dict)  # lie about a file's size
    cut_after: dict[str, int] = field(default_factory=dict)  # the next GET of a file stops after N bytes
    log: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, key, Range header)

    def gets(self, key: str) -> list[str | None]:
        """The Range headers of the GETs of `key`, in order."""
        return [r for m, k, r in self.log if m == "GET" and k == key]


class _Handler(BaseHTTPRequestHandler):
    hub: HubFiles

    def log_message(self, *args) -> None:
        pass

    def _key(self) -> str | None:
        match = re.fullmatch(r"/(.+)/resolve/[^/]+/(.+)", self.path)
        return f"{match.group(1)}/{match.group(2)}" if match else None

    def _headers(self, key: str) -> tuple[bytes, int, str]:
        data = self.hub.files[key]
        sha = self.hub.advertised_sha.get(key, hashlib.sha256(data).hexdigest())
        return data, self.hub.advertised_size.get(key, len(data)), sha

    def _missing(self, key: str | None) -> bool:
        if key in self.hub.files:
            return False
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def do_HEAD(self) -> None:
        key = self._key()
        self.hub.log.append(("HEAD", key, None))
        if self._missing(key):
            return
        _, size, sha = self._headers(key)
        self.send_response(200)
        for name, value in (("X-Repo-Commit", COMMIT), ("X-Linked-Etag", f'"{sha}"'), ("ETag", f'"{sha}"'),
                            ("X-Linked-Size", str(size)), ("Content-Length", str(size)), ("Accept-Ranges", "bytes")):
            self.send_header(name, value)
        self.end_headers()

    def do_GET(self) -> None:
        key = self._key()
        wanted = self.headers.get("Range")
        self.hub.log.append(("GET", key, wanted))
        if self._missing(key):
            return
        data, _, _ = self._headers(key)
        start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1)) if wanted else 0
        body = data[start:]
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.hub.cut_after.pop(key, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class HubServer:
    """`with HubServer(files) as hub:` serves `files` at `hub.url` until the block ends."""

    def __init__(self, files: HubFiles) -> None:
        handler = type("Handler", (_Handler,), {"hub": files})
        self.files = files
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "HubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
