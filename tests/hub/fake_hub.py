"""A local stand-in for the Hugging Face hub and its CDN, for `plexus pull` tests.

  HEAD/GET /ORG/REPO/resolve/REV/PATH -> 302 to an absolute /lfs/SHA/NAME on the
      CDN (this server unless `cdn` names another), with X-Linked-Etag "SHA",
      X-Linked-Size and ETag, as the hub answers for LFS files; 404 with
      X-Error-Message for a missing file; 401 when a token is required.
  /lfs/SHA/NAME -> 307 to the relative ../../cdn/SHA/NAME (so both kinds of
      Location are followed).
  /cdn/SHA/NAME -> the bytes, with Accept-Ranges and 206/Content-Range answers.
  /files/NAME -> the bytes of NAME directly, no hash headers (plain URLs).

Switches (attributes, changed between pulls): drop_after (close the connection
after that many body bytes, once per listed count), stall_after (go silent
after that many body bytes), ignore_range (200 with the whole file),
wrong_hash, no_hash, require_token, cdn (another FakeHub), barrier (hold
ranged answers until that many are in flight, 5 s at most). FakeHub(tls=...)
serves https.
Every request is recorded in `log` (method, path, range, authorization).
"""
import hashlib
import http.server
import socket
import ssl
import threading
import time
import urllib.parse


class FakeHub:
    def __init__(self, tls=None):
        """tls: (cert file, key file) to serve https."""
        self.files = {}  # "ORG/REPO/REV/PATH" -> bytes
        self.plain = {}  # NAME -> bytes for /files/
        self.log = []
        self.lock = threading.Condition()
        self.drop_after = []  # body byte counts; each is used for one answer
        self.ignore_range = False
        self.wrong_hash = False
        self.no_hash = False
        self.require_token = None
        self.cdn = None
        self.barrier = 0
        self.stall_after = None  # body bytes after which answers go silent (until reset, 20 s at most)
        self.stall_over = False
        self.active = 0
        self.max_active = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, org_repo, path, data, revision="main"):
        self.files[f"{org_repo}/{revision}/{path}"] = data

    def by_sha(self, sha):
        for data in list(self.files.values()) + list(self.plain.values()):
            if hashlib.sha256(data).hexdigest() == sha:
                return data
        return None

    def requests(self, method=None, prefix=""):
        with self.lock:
            return [r for r in self.log if (method is None or r["method"] == method) and r["path"].startswith(prefix)]

    def clear_log(self):
        with self.lock:
            self.log.clear()

    def reset(self):
        with self.lock:
            self.log.clear()
            self.drop_after = []
            self.ignore_range = self.wrong_hash = self.no_hash = False
            self.require_token = None
            self.barrier = self.active = self.max_active = 0
            self.stall_after = None
            self.stall_over = True
            self.lock.notify_all()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _parse_range(header, size):
    """'bytes=A-B' / 'bytes=A-' -> (A, B+1) or None."""
    if not header or not header.startswith("bytes="):
        return None
    first, _, last = header[6:].partition("-")
    begin = int(first)
    end = int(last) + 1 if last else size
    return begin, min(end, size)


def _make_handler(hub):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self._serve(body=False)

        def do_GET(self):
            self._serve(body=True)

        def _record(self):
            with hub.lock:
                hub.log.append({"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                                "auth": self.headers.get("Authorization"), "time": time.monotonic()})

        def _reply(self, status, headers=(), body=b""):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self, body):
            self._record()
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            parts = path.strip("/").split("/")
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(parts)
            if len(parts) == 3 and parts[0] == "lfs":
                return self._reply(307, [("Location", f"../../cdn/{parts[1]}/{parts[2]}")])
            if len(parts) == 3 and parts[0] == "cdn":
                data = hub.by_sha(parts[1])
                if data is None:
                    return self._reply(404)
                return self._bytes(data, body)
            if len(parts) == 2 and parts[0] == "files" and parts[1] in hub.plain:
                return self._bytes(hub.plain[parts[1]], body)
            return self._reply(404, [("X-Error-Message", "no such path")])

        def _resolve(self, parts):
            if hub.require_token and self.headers.get("Authorization") != f"Bearer {hub.require_token}":
                return self._reply(401, [("X-Error-Message", "Invalid credentials in Authorization header")])
            key = "/".join(parts[0:2] + parts[3:])
            data = hub.files.get(key)
            if data is None:
                return self._reply(404, [("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "Entry not found")])
            sha = hashlib.sha256(data).hexdigest()
            reported = ("0" * 64) if hub.wrong_hash else sha
            headers = [("Location", f"{(hub.cdn or hub).url}/lfs/{sha}/{parts[-1]}")]
            if not hub.no_hash:
                headers += [("X-Linked-Etag", f'"{reported}"'), ("ETag", f'"{reported}"')]
            headers.append(("X-Linked-Size", str(len(data))))
            self._reply(302, headers)

        def _bytes(self, data, body):
            size = len(data)
            rng = None if hub.ignore_range else _parse_range(self.headers.get("Range"), size)
            if rng and rng[0] >= size:
                return self._reply(416, [("Content-Range", f"bytes */{size}")])
            begin, end = rng if rng else (0, size)
            self.send_response(206 if rng else 200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - begin))
            if rng:
                self.send_header("Content-Range", f"bytes {begin}-{end - 1}/{size}")
            self.end_headers()
            if not body:
                return
            with hub.lock:
                drop = hub.drop_after.pop(0) if hub.drop_after else None
                hub.active += 1
                hub.max_active = max(hub.max_active, hub.active)
                hub.lock.notify_all()
                if rng and hub.barrier:
                    hub.lock.wait_for(lambda: hub.active >= hub.barrier, timeout=5)
            try:
                chunk = data[begin:end] if drop is None else data[begin:min(end, begin + drop)]
                if hub.stall_after is not None:
                    self.wfile.write(chunk[:hub.stall_after])
                    self.wfile.flush()
                    with hub.lock:
                        hub.stall_over = False
                        hub.lock.wait_for(lambda: hub.stall_over, timeout=20)
                    chunk = chunk[hub.stall_after:]
                self.wfile.write(chunk)
                self.wfile.flush()
                if drop is not None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                self.close_connection = True
            finally:
                with hub.lock:
                    hub.active -= 1

    return Handler
