#!/usr/bin/python3
"""Fault-injecting HTTP/1.1 reverse proxy for BackupKit's integration tests (Python 3.11 stdlib only).

Sits between the S3 client (libcurl, SigV4-signed requests) and SeaweedFS and forwards every request
and response byte for byte: the request line and all headers (Host included) go upstream exactly as
the client sent them, so a signature computed for the proxy's host:port stays valid (SeaweedFS checks
the signature against the Host header it receives, not against its own address).

    fault_proxy.py --listen 127.0.0.1:0 --target 127.0.0.1:18333 [fault options]
                   [--port-file PATH] [--log PATH]

  --listen HOST:PORT     where to listen; port 0 picks a free port
  --target HOST:PORT     the upstream server
  --port-file PATH       once listening, the chosen port number is written here (atomically: a
                         temporary file renamed into place), followed by a newline
  --log PATH             appends one line per request when it is finished: counter (the request's
                         arrival number, so concurrent requests may log out of order), method,
                         path?query, action, where action is "forwarded <status>", "injected-500",
                         "dropped after <n> body bytes" or "error <reason>" (a broken connection, or
                         no upstream: the client gets a 502)

Faults (the counter is global across connections and thread-safe; numbering starts at 1). Faults that
need no socket (a 500 now and then, a 403) are unit-tested with a scripted transport instead
(Tests/BackupKitTests/S3ClientRulesTests.swift); the proxy keeps what only a real connection shows.
  --fail-always          every matching request is answered by the proxy with a 500 and an S3-style
                         XML error body (<Error><Code>InternalError</Code><Message>injected</Message>
                         </Error>) without being forwarded (faults that never stop). Its body is read
                         and discarded first, so the connection stays usable (keep-alive). With
                         `Expect: 100-continue` the proxy answers "100 Continue" itself, reads the
                         body, then answers the 500.
  --drop-every N         every Nth matching request that has a body (Content-Length > 0 or chunked):
                         forward its head and the first --drop-after bytes of its body upstream (raw
                         wire bytes, so chunk-size lines count for chunked bodies), then reset (RST)
                         both the client and the upstream connection. A body no longer than
                         --drop-after is forwarded whole and the reset comes instead of the response
                         (the server may then have stored it: a lost response)
  --drop-after BYTES     see --drop-every (default 0: only the head is forwarded)
  --only-method METHOD   faults apply only to (and only count) requests with this method
  --only-query SUBSTR    faults apply only to (and only count) requests whose query string (the part
                         after '?') contains SUBSTR, e.g. `--only-method PUT --only-query partNumber=`
                         targets UploadPart

A request that matches the --only filters and has a body advances the --drop-every counter; when both
faults apply to the same request the injected error wins.

Protocol: keep-alive with any number of requests per connection, one upstream connection per client
connection (reopened if the upstream closed an idle one), request bodies with Content-Length or
`Transfer-Encoding: chunked`, `Expect: 100-continue` (interim 1xx responses are passed through),
responses with Content-Length, chunked, read-until-close, or no body (HEAD, 1xx, 204, 304); the
connection is closed after a request or response carrying `Connection: close`. One thread per client
connection. Runs until SIGTERM or SIGINT, then exits at once (status 0), also when the parent started it
with those signals blocked.
"""
import argparse
import os
import select
import signal
import socket
import sys
import threading
import time

MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024


class Closed(Exception):
    """The peer closed the connection (or it broke)."""


class Dropped(Exception):
    """A --drop-every fault fired: reset both connections."""


class Reader:
    """A socket with a read buffer, so we can parse heads and still forward exact bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        try:
            data = self.sock.recv(CHUNK)
        except OSError as e:
            raise Closed(str(e))
        if not data:
            raise Closed("eof")
        self.buf += data

    def pending(self):
        return len(self.buf)

    def read_head(self, allow_eof=False):
        """Returns the bytes up to and including CRLFCRLF, skipping empty lines before the start line.
        Returns None at a clean EOF between messages when allow_eof."""
        while True:
            while self.buf[:2] == b"\r\n":
                del self.buf[:2]
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[: i + 4])
                del self.buf[: i + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise Closed("head too large")
            try:
                self._fill()
            except Closed:
                if allow_eof and not self.buf:
                    return None
                raise

    def read_line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > MAX_HEAD:
                raise Closed("line too large")
            self._fill()

    def read_some(self, limit):
        if not self.buf:
            self._fill()
        data = bytes(self.buf[:limit])
        del self.buf[:limit]
        return data

    def read_to_eof(self):
        """Yields data until the peer closes."""
        while True:
            if self.buf:
                data = bytes(self.buf)
                self.buf.clear()
                yield data
            try:
                self._fill()
            except Closed:
                if self.buf:
                    continue
                return


def parse_head(head):
    """Returns (start-line fields, {lowercase name: [values]})."""
    lines = head.decode("latin-1").split("\r\n")
    start = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if not line or ":" not in line:
            continue
        name, value = line.split(":", 1)
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return start, headers


def header_tokens(headers, name):
    return {t.strip().lower() for v in headers.get(name, []) for t in v.split(",") if t.strip()}


def wants_close(version, headers):
    tokens = header_tokens(headers, "connection")
    if "close" in tokens:
        return True
    if version.upper() == "HTTP/1.0" and "keep-alive" not in tokens:
        return True
    return False


def content_length(headers):
    values = headers.get("content-length")
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError:
        raise Closed("bad Content-Length %r" % values[0])


class Sink:
    """Where forwarded body bytes go, counting them and firing a drop after the allowance."""

    def __init__(self, sock, allowance=None):
        self.sock = sock
        self.allowance = allowance  # None: unlimited
        self.sent = 0

    def send(self, data):
        if self.allowance is not None and self.sent + len(data) >= self.allowance:
            part = data[: self.allowance - self.sent]
            if part and self.sock is not None:
                send_all(self.sock, part)
            self.sent += len(part)
            raise Dropped()
        if self.sock is not None:
            send_all(self.sock, data)
        self.sent += len(data)


def send_all(sock, data):
    try:
        sock.sendall(data)
    except OSError as e:
        raise Closed(str(e))


def relay_body(reader, headers, sink, length=None, chunked=None):
    """Copies one message body from reader to sink exactly as framed on the wire."""
    if chunked is None:
        chunked = "chunked" in header_tokens(headers, "transfer-encoding")
    if chunked:
        while True:
            line = reader.read_line()
            sink.send(line)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise Closed("bad chunk size %r" % size_text)
            if size == 0:
                while True:  # trailers, then the empty line
                    line = reader.read_line()
                    sink.send(line)
                    if line in (b"\r\n", b"\n"):
                        return
            remaining = size + 2  # data and its CRLF
            while remaining:
                data = reader.read_some(min(CHUNK, remaining))
                sink.send(data)
                remaining -= len(data)
        return
    if length is None:
        length = content_length(headers) or 0
    remaining = length
    while remaining:
        data = reader.read_some(min(CHUNK, remaining))
        sink.send(data)
        remaining -= len(data)


def reset(sock):
    """Closes sock with an RST instead of a FIN."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Proxy:
    def __init__(self, args):
        self.args = args
        self.target = split_host_port(args.target)
        self.lock = threading.Lock()
        self.requests = 0
        self.drop_count = 0
        self.log_file = open(args.log, "a", buffering=1) if args.log else None

    # ------------------------------------------------------------ bookkeeping

    def log(self, number, method, target, action):
        if self.log_file is None:
            return
        line = "%d %s %s %s\n" % (number, method, target, action)
        with self.lock:
            self.log_file.write(line)
            self.log_file.flush()

    def decide(self, method, target, has_body):
        """Returns (request number, action) with action None, "fail" or "drop"."""
        query = target.split("?", 1)[1] if "?" in target else ""
        matches = True
        if self.args.only_method and method.upper() != self.args.only_method.upper():
            matches = False
        if self.args.only_query is not None and self.args.only_query not in query:
            matches = False
        with self.lock:
            self.requests += 1
            number = self.requests
            action = None
            if matches:
                if self.args.fail_always:
                    action = "fail"
                if self.args.drop_every and has_body:
                    self.drop_count += 1
                    if self.drop_count % self.args.drop_every == 0 and action is None:
                        action = "drop"
        return number, action

    def error_response(self, number, close):
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Error><Code>InternalError</Code><Message>injected</Message><RequestId>fault-proxy-%d</RequestId></Error>"
            % number
        ).encode()
        head = (
            "HTTP/1.1 500 Internal Server Error\r\n"
            "Content-Type: application/xml\r\n"
            "Content-Length: %d\r\n"
            "x-amz-request-id: fault-proxy-%d\r\n"
            "Connection: %s\r\n\r\n" % (len(body), number, "close" if close else "keep-alive")
        ).encode()
        return head + body

    # ------------------------------------------------------------ connections

    def connect_upstream(self):
        sock = socket.create_connection(self.target, timeout=30)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def handle(self, client):
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        creader = Reader(client)
        upstream = None
        ureader = None
        number, method, target = None, "-", "-"
        try:
            while True:
                number, method, target = None, "-", "-"
                head = creader.read_head(allow_eof=True)
                if head is None:
                    return
                start, headers = parse_head(head)
                if len(start) != 3:
                    raise Closed("bad request line %r" % head.split(b"\r\n", 1)[0])
                method, target, version = start
                chunked = "chunked" in header_tokens(headers, "transfer-encoding")
                length = None if chunked else (content_length(headers) or 0)
                has_body = chunked or length > 0
                expect = "100-continue" in header_tokens(headers, "expect") and has_body
                close_after = wants_close(version, headers)
                number, action = self.decide(method, target, has_body)

                if action == "fail":
                    if expect:
                        send_all(client, b"HTTP/1.1 100 Continue\r\n\r\n")
                    relay_body(creader, headers, Sink(None), length, chunked)
                    send_all(client, self.error_response(number, close=close_after))
                    self.log(number, method, target, "injected-500")
                    if close_after:
                        return
                    continue

                # (Re)open the upstream connection if there is none or the server closed an idle one.
                if upstream is not None and upstream_closed(upstream, ureader):
                    upstream.close()
                    upstream = None
                if upstream is None:
                    try:
                        upstream = self.connect_upstream()
                    except OSError as e:
                        self.log(number, method, target, "error upstream connect: %s" % e)
                        send_all(client, bad_gateway())
                        lingering_close(client)  # the request body (if any) was not read
                        client = None
                        return
                    ureader = Reader(upstream)

                send_all(upstream, head)
                sink = Sink(upstream, self.args.drop_after if action == "drop" else None)
                try:
                    status, sent_body, ucloses = self.exchange(
                        client, creader, upstream, ureader, method, headers, length, chunked, expect, sink
                    )
                except Dropped:
                    self.log(number, method, target, "dropped after %d body bytes" % sink.sent)
                    reset(upstream)
                    upstream = None
                    reset(client)
                    client = None
                    return
                self.log(number, method, target, "forwarded %d" % status)
                if not sent_body:
                    # A final answer came before the body (e.g. 403 to `Expect: 100-continue`): the
                    # client may or may not send the body now, so this connection cannot be reused.
                    lingering_close(client)
                    client = None
                    return
                if close_after or ucloses:
                    return
        except Closed as e:
            self.log(number if number is not None else 0, method, target, "error connection: %s" % e)
        finally:
            for s in (client, upstream):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def exchange(self, client, creader, upstream, ureader, method, headers, length, chunked, expect, sink):
        """Forwards the request body and the response. Returns (final status, whether the request body
        was sent in full, whether the connection must close afterwards)."""
        body_sent = not (chunked or length)

        def send_body():
            relay_body(creader, headers, sink, length, chunked)
            if sink.allowance is not None:
                raise Dropped()  # the whole body fit in the allowance: drop before the response

        if expect:
            # Wait for the server's interim (or final) response, or for the client giving up on waiting
            # and sending the body anyway.
            while True:
                if ureader.pending():
                    break
                if creader.pending():
                    break
                r, _, _ = select.select([upstream, client], [], [], 60)
                if upstream in r or client in r:
                    break
            if not ureader.pending() and not is_readable(upstream):
                send_body()
                body_sent = True
        else:
            send_body()
            body_sent = True

        while True:
            rhead = ureader.read_head()
            start, rheaders = parse_head(rhead)
            try:
                status = int(start[1])
            except (IndexError, ValueError):
                raise Closed("bad status line %r" % rhead.split(b"\r\n", 1)[0])
            send_all(client, rhead)
            if 100 <= status < 200:
                if status == 100 and not body_sent:
                    send_body()
                    body_sent = True
                continue
            break

        ucloses = wants_close(start[0], rheaders)
        if method.upper() == "HEAD" or status in (204, 304):
            pass
        elif "chunked" in header_tokens(rheaders, "transfer-encoding"):
            relay_body(ureader, rheaders, Sink(client), chunked=True)
        elif "content-length" in rheaders:
            relay_body(ureader, rheaders, Sink(client), length=content_length(rheaders), chunked=False)
        else:
            for data in ureader.read_to_eof():
                send_all(client, data)
            ucloses = True
        return status, body_sent, ucloses


def is_readable(sock):
    r, _, _ = select.select([sock], [], [], 0)
    return bool(r)


def upstream_closed(sock, reader):
    """True if the upstream connection was closed (or sent something unexpected) while idle."""
    # Readable while idle means EOF, an error, or unsolicited data: in every case start afresh.
    return bool(reader.pending()) or is_readable(sock)


def lingering_close(sock):
    """Sends FIN, discards what the client still sends for a moment, then closes (so the client reads
    our response instead of getting an RST)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.5)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if not sock.recv(CHUNK):
                break
    except OSError:
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def bad_gateway():
    body = b"fault_proxy: cannot connect to the upstream server\n"
    return (
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % len(body)
    ) + body


def split_host_port(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host.strip("[]") or "127.0.0.1", int(port)


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Stop(Exception):
    pass


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fault-injecting HTTP/1.1 reverse proxy for tests.")
    parser.add_argument("--listen", required=True, help="HOST:PORT to listen on (port 0: any free port)")
    parser.add_argument("--target", required=True, help="HOST:PORT of the upstream server")
    parser.add_argument("--port-file", help="write the listening port here once listening")
    parser.add_argument("--log", help="append one line per request here")
    parser.add_argument("--fail-always", action="store_true")
    parser.add_argument("--drop-every", type=int, default=0, metavar="N")
    parser.add_argument("--drop-after", type=int, default=0, metavar="BYTES")
    parser.add_argument("--only-method", metavar="METHOD")
    parser.add_argument("--only-query", metavar="SUBSTRING")
    args = parser.parse_args(argv)
    for name in ("drop_every", "drop_after"):
        if getattr(args, name) < 0:
            parser.error("--%s must not be negative" % name.replace("_", "-"))
    try:
        listen_host, listen_port = split_host_port(args.listen)
        split_host_port(args.target)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))

    proxy = Proxy(args)

    def on_signal(signum, frame):
        raise Stop()

    server = None
    try:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        # A parent may start us with these signals blocked (the Swift test runner does: a child inherits
        # the signal mask of the thread that spawned it), and then SIGTERM would stay pending forever.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

        family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((listen_host, listen_port))
        server.listen(128)
        port = server.getsockname()[1]
        if args.port_file:
            write_port_file(args.port_file, port)
        print("fault_proxy: listening on %s:%d, forwarding to %s" % (listen_host, port, args.target), flush=True)

        while True:
            client, _ = server.accept()
            threading.Thread(target=proxy.handle, args=(client,), daemon=True).start()
    except Stop:
        pass
    finally:
        if server is not None:
            server.close()
        if proxy.log_file is not None:
            with proxy.lock:
                proxy.log_file.flush()
    # Connection threads are daemons; leave without waiting for them.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
