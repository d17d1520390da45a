"""SMTP test server for BackupKit's tests (run with the .test-services venv's python; needs aiosmtpd).

Two listeners on loopback, both requiring AUTH (PLAIN or LOGIN) with one user:
  --port (8025):       plain SMTP that requires STARTTLS before AUTH and MAIL;
  --smtps-port (8465): implicit TLS (SMTPS) from the first byte.

Each accepted message is saved into --mail-dir as two files with the same stem:
  <stem>.json  the envelope: {"mail_from", "rcpt_tos", "auth_user", "listener", "tls", "peer",
               "received_at", "size", "mail_options", "rcpt_options", "message_file"};
  <stem>.eml   the raw message bytes exactly as received (RFC 5322, CRLF line ends).
Both are written atomically (a dot-file renamed into place), the .json first, so once a .eml is
visible its .json is too. Stems sort by arrival time.
"""
import argparse
import asyncio
import hmac
import itertools
import json
import logging
import os
import ssl
import time
import uuid
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("backupkit-smtp")
_sequence = itertools.count(1)


def atomic_write(directory: str, name: str, data: bytes) -> None:
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
    os.replace(tmp, os.path.join(directory, name))


class Authenticator:
    def __init__(self, user: str, password: str):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, self.user) and hmac.compare_digest(
            auth_data.password, self.password)
        log.info("AUTH %s user=%r %s", mechanism, auth_data.login, "ok" if ok else "refused")
        if not ok:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data.login.decode("utf-8", "replace"))


class SaveHandler:
    def __init__(self, mail_dir: str, listener: str):
        self.mail_dir = mail_dir
        self.listener = listener

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        stem = f"{time.time_ns():020d}-{next(_sequence):06d}-{uuid.uuid4().hex[:8]}"
        raw = envelope.original_content or b""
        tls = session.ssl is not None or self.listener == "smtps"
        sidecar = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "auth_user": session.auth_data if session.authenticated else None,
            "listener": self.listener,
            "tls": tls,
            "peer": list(session.peer) if session.peer else None,
            "helo": session.host_name,
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
            "size": len(raw),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "message_file": stem + ".eml",
        }
        atomic_write(self.mail_dir, stem + ".json", (json.dumps(sidecar, indent=2) + "\n").encode())
        atomic_write(self.mail_dir, stem + ".eml", raw)
        log.info("saved %s from=%s to=%s (%d bytes)", stem, envelope.mail_from, envelope.rcpt_tos, len(raw))
        return "250 Message accepted for delivery"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--smtps-port", type=int, default=8465)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--mail-dir", required=True)
    args = parser.parse_args()

    with open(args.password_file) as f:
        password = f.read().strip()
    os.makedirs(args.mail_dir, exist_ok=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    authenticator = Authenticator(args.user, password)
    loop = asyncio.get_running_loop()

    def smtp(listener: str, **kwargs) -> SMTP:
        return SMTP(SaveHandler(args.mail_dir, listener), hostname="localhost", ident="BackupKit test SMTP",
                    data_size_limit=64 * 1024 * 1024, enable_SMTPUTF8=True, auth_required=True,
                    authenticator=authenticator, loop=loop, **kwargs)

    # STARTTLS is required before AUTH/MAIL (and AUTH before MAIL).
    starttls = await loop.create_server(
        lambda: smtp("starttls", tls_context=context, require_starttls=True, auth_require_tls=True),
        args.host, args.port, reuse_address=True)
    # Implicit TLS: the socket is TLS already, so AUTH needs no STARTTLS here.
    smtps = await loop.create_server(
        lambda: smtp("smtps", auth_require_tls=False),
        args.host, args.smtps_port, ssl=context, reuse_address=True)
    log.info("listening on %s:%d (STARTTLS) and %s:%d (implicit TLS), saving into %s",
             args.host, args.port, args.host, args.smtps_port, args.mail_dir)
    async with starttls, smtps:
        await asyncio.gather(starttls.serve_forever(), smtps.serve_forever())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The implicit-TLS listener requires AUTH without STARTTLS on purpose: its socket is TLS already.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # not one line per connection
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
