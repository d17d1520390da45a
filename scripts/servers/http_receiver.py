"""HTTP webhook receiver for BackupKit's tests (Python standard library only).

Records every request as one JSON file in --request-dir, written atomically (a dot-file renamed into
place) before the response is sent, so a client that has its response can read the record. File names
sort by arrival time. A record holds: id, received_at (ISO 8601 UTC), received_at_epoch, method, path
(as sent, with the query), query (parsed), headers ([[name, value], ...] in order), body_base64,
body_text (the body if it is UTF-8, else null), body_size, client, status (the status answered).

Answers 200 "ok" except on these paths (the query string is ignored when matching):
  /status/<code>        answers <code> (200-599)
  /slow/<seconds>       sleeps <seconds> (at most 120) then answers 200
  /flaky/<n>/<name>     answers 500 the first <n> times for <name>, 200 after; counters live in memory
                        for the life of the server, so use a fresh <name> per test
"""
import argparse
import base64
import itertools
import json
import os
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_sequence = itertools.count(1)
_flaky_lock = threading.Lock()
_flaky_counts: dict = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BackupKitTestHTTP/1"
    request_dir = "."

    def log_message(self, format, *args):  # one line per request into the server's log
        print("%s %s" % (self.address_string(), format % args), flush=True)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    break
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _route(self, path: str):
        """Returns (status, body, delay_seconds)."""
        m = re.fullmatch(r"/status/(\d{3})/?", path)
        if m:
            code = int(m.group(1))
            if 200 <= code <= 599:
                return code, f"status {code}\n", 0.0
            return 400, "status code must be 200-599\n", 0.0
        m = re.fullmatch(r"/slow/(\d+(?:\.\d+)?)/?", path)
        if m:
            return 200, "ok", min(float(m.group(1)), 120.0)
        m = re.fullmatch(r"/flaky/(\d+)/([^/]+)/?", path)
        if m:
            failures, name = int(m.group(1)), m.group(2)
            with _flaky_lock:
                count = _flaky_counts.get(name, 0) + 1
                _flaky_counts[name] = count
            if count <= failures:
                return 500, f"flaky failure {count} of {failures}\n", 0.0
            return 200, "ok", 0.0
        return 200, "ok", 0.0

    def _record(self, body: bytes, status: int) -> None:
        now = time.time()
        rid = f"{time.time_ns():020d}-{next(_sequence):06d}-{uuid.uuid4().hex[:8]}"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        split = urlsplit(self.path)
        record = {
            "id": rid,
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
            "received_at_epoch": now,
            "method": self.command,
            "path": self.path,
            "query": parse_qs(split.query, keep_blank_values=True),
            "http_version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_base64": base64.b64encode(body).decode("ascii"),
            "body_text": text,
            "body_size": len(body),
            "client": f"{self.client_address[0]}:{self.client_address[1]}",
            "status": status,
        }
        tmp = os.path.join(self.request_dir, f".{rid}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        os.replace(tmp, os.path.join(self.request_dir, rid + ".json"))

    def _handle(self) -> None:
        body = self._read_body()
        status, answer, delay = self._route(urlsplit(self.path).path)
        self._record(body, status)
        if delay:
            time.sleep(delay)
        payload = answer.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if status in (204, 304):
            payload = b""
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--request-dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.request_dir, exist_ok=True)
    Handler.request_dir = args.request_dir
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"listening on http://{args.host}:{args.port}/, recording into {args.request_dir}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
