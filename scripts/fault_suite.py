"""The fault and hostile-input suite: drives the real `backupctl` against the real test servers
(PostgreSQL, SeaweedFS S3 through a fault-injecting proxy) and checks what must hold whatever happens:

    0 corrupt sets, 0 files outside a target, 0 orphan uploads, 0 shell commands run

Run by scripts/fault-suite (which builds backupctl and starts the servers when needed). Each case prints
one figure line; the last line sums them up. FAULT_RUNS=N sets the number of iterations of the loops
(SIGKILL during run and prune, S3 faults); FAULT_SEED=N replays a run's random choices.
"""
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("FAULT_RUNS", "3"))
SEED = int(os.environ.get("FAULT_SEED", str(int(time.time()))))
rng = random.Random(SEED)


def load_env():
    path = os.environ.get("BACKUPKIT_TEST_SERVICES_ENV", os.path.join(ROOT, ".test-services/env"))
    values = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                values[key] = value
    return values


ENV = load_env()
BACKUPCTL = os.environ["BACKUPCTL"]

totals = {"runs": 0, "kills": 0, "faults": 0, "cases": 0, "corrupt_sets": 0, "outside": 0,
          "orphan_uploads": 0, "shell_commands": 0}
failures = []


def figure(case, text, ok=True):
    totals["cases"] += 1
    mark = "ok  " if ok else "FAIL"
    print(f"{mark} {case}: {text}", flush=True)
    if not ok:
        failures.append(f"{case}: {text}")


# ---------------------------------------------------------------------------------------------------
# Running backupctl


def clean_environment(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "AWS_"))}
    env["HOME"] = home
    return env


def bk(ws, *args, config=None, timeout=300):
    argv = [BACKUPCTL, *args] + (["--config", config] if config else [])
    return subprocess.run(argv, cwd=ws, env=clean_environment(ws), capture_output=True, text=True, timeout=timeout)


def start_bk(ws, *args, config=None):
    argv = [BACKUPCTL, *args] + (["--config", config] if config else [])
    return subprocess.Popen(argv, cwd=ws, env=clean_environment(ws), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------------------------------------------
# Servers: PostgreSQL, S3 (boto3), and a fault-injecting TCP proxy in front of S3


def psql(sql, database=None):
    env = dict(os.environ, PGPASSWORD=ENV["BACKUPKIT_PG_PASSWORD"])
    out = subprocess.run(["psql", "-h", ENV["BACKUPKIT_PG_HOST"], "-p", ENV["BACKUPKIT_PG_PORT"], "-U",
                          ENV["BACKUPKIT_PG_USER"], "-d", database or ENV["BACKUPKIT_PG_DATABASE"], "-XAtq",
                          "-v", "ON_ERROR_STOP=1", "-c", sql], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr}")
    return out.stdout.strip()


def make_database(name):
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")
    psql("CREATE TABLE items (id int primary key, body text); "
         "INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 5000) i;", name)


def s3():
    import boto3
    return boto3.client("s3", endpoint_url=ENV["BACKUPKIT_S3_ENDPOINT"], region_name=ENV["BACKUPKIT_S3_REGION"],
                        aws_access_key_id=ENV["BACKUPKIT_S3_ACCESS_KEY"],
                        aws_secret_access_key=ENV["BACKUPKIT_S3_SECRET_KEY"])


def open_uploads(bucket):
    return s3().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


class FaultProxy:
    """A TCP proxy in front of the S3 server. Per connection, `mode` decides: `pass` forwards both
    ways; `reset` forwards part of the request and then closes both sides; `stall` accepts and never
    answers. `fault_every` makes every Nth connection faulty (0: none)."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.mode, self.fault_every, self.connections, self.faults = "pass", 0, 0, 0
        self.open = []
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            faulty = self.mode == "stall" or (self.fault_every and self.connections % self.fault_every == 0)
            if faulty:
                self.faults += 1
            self.open.append(client)
            threading.Thread(target=self.serve, args=(client, faulty), daemon=True).start()

    def serve(self, client, faulty):
        if faulty and self.mode == "stall":
            return  # never answers; the socket stays open until the proxy closes
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self.open.append(upstream)
        limit = rng.randint(200, 300_000) if faulty else None

        def pipe(source, sink, budget):
            sent = 0
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    if budget is not None and sent + len(data) > budget:
                        sink.sendall(data[: max(0, budget - sent)])
                        break
                    sink.sendall(data)
                    sent += len(data)
            except OSError:
                pass
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

        threading.Thread(target=pipe, args=(client, upstream, limit), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client, None), daemon=True).start()

    def close_all(self):
        for s in self.open:
            try:
                s.close()
            except OSError:
                pass
        self.open = []


# ---------------------------------------------------------------------------------------------------
# Workspaces and invariants


def workspace(label, *, database=None, bucket=None, endpoint=None, extra_sources="", extra="", data_mib=4, s3_extra=""):
    ws = tempfile.mkdtemp(prefix=f"fault-{label}-")
    os.makedirs(f"{ws}/data/invoices")
    r = random.Random(rng.random())
    for i in range(max(1, data_mib)):
        with open(f"{ws}/data/invoices/inv-{i:03}.pdf", "wb") as f:
            f.write(b"%PDF-1.7\n" + r.randbytes(1 << 20))
    with open(f"{ws}/data/readme.txt", "w") as f:
        f.write("invoices\n" * 2000)
    os.makedirs(f"{ws}/etc")
    with open(f"{ws}/etc/app.env", "w") as f:
        f.write("MODE=production\n")
    sources = ["  - { name: minio, type: directory, path: ./data, subject: pdfs }",
               "  - { name: config, type: files, paths: [./etc/app.env] }"]
    if database:
        with open(f"{ws}/pgpass", "w") as f:
            f.write(ENV["BACKUPKIT_PG_PASSWORD"] + "\n")
        os.chmod(f"{ws}/pgpass", 0o600)
        sources.append(f"  - {{ name: db, type: postgres, host: {ENV['BACKUPKIT_PG_HOST']}, port: {ENV['BACKUPKIT_PG_PORT']}, "
                       f"user: {ENV['BACKUPKIT_PG_USER']}, database: {database}, password_file: ./pgpass }}")
    if extra_sources:
        sources.append(extra_sources)
    sinks = ["  - { name: local, type: local, path: ./backups }"]
    if bucket:
        with open(f"{ws}/s3-secret", "w") as f:
            f.write(ENV["BACKUPKIT_S3_SECRET_KEY"] + "\n")
        os.chmod(f"{ws}/s3-secret", 0o600)
        sinks.append(f"  - {{ name: offsite, type: s3, endpoint: {endpoint or ENV['BACKUPKIT_S3_ENDPOINT']}, bucket: {bucket}, "
                     f"prefix: fault/, access_key: {ENV['BACKUPKIT_S3_ACCESS_KEY']}, secret_key_file: ./s3-secret, "
                     f"part_size: 5MiB, abandoned_upload_age: 1s{s3_extra} }}")
    plan = "name: app\nsources:\n" + "\n".join(sources) + "\nsinks:\n" + "\n".join(sinks) + "\n" + extra + "\n"
    with open(f"{ws}/backup.yml", "w") as f:
        f.write(plan)
    return ws


def make_bucket(label):
    name = f"fault-{label}-{rng.randrange(1 << 30):08x}"
    s3().create_bucket(Bucket=name)
    return name


def final_names(directory):
    try:
        return sorted(n for n in os.listdir(directory) if not n.startswith("."))
    except FileNotFoundError:
        return []


def backed_up(ws, case):
    """Runs the workspace's plan once; a failure fails `case`."""
    run = bk(ws, "run")
    totals["runs"] += 1
    if run.returncode != 0:
        figure(case, f"the backup failed: {run.stderr[-400:]}", ok=False)
    return run.returncode == 0


def listing(ws, config=None):
    out = bk(ws, "list", "--json", config=config)
    return json.loads(out.stdout or "{}").get("sinks", [])


def unlisted(ws, config=None):
    """Sinks `list` could not read: a set there cannot be shown to be whole, so each counts as corrupt."""
    out = bk(ws, "list", "--json", config=config)
    sinks = json.loads(out.stdout or "{}").get("sinks", [])
    if out.returncode != 0 and not sinks:
        return [f"list failed (exit {out.returncode}): {out.stderr[-200:]}"]
    return [f"sink {s['sink']} cannot be listed: {s['error']}" for s in sinks if s.get("error")]


def corrupt_sets(ws, config=None):
    """Sets whose manifest is there but which fail verification (a killed run or prune must never leave
    one), plus artifacts under a final name that are not whole (a partial file must never get one)."""
    corrupt = unlisted(ws, config)
    for sink in listing(ws, config):
        for entry in sink["sets"]:
            problem = entry.get("problem") or ""
            if problem.startswith("incomplete"):
                continue
            verify = bk(ws, "verify", "--set", entry["timestamp"], "--sink", sink["sink"], "--json", config=config)
            if verify.returncode != 0:
                corrupt.append(f"{sink['sink']} {entry['timestamp']}: {problem or verify.stdout[-300:]}")
    for name in final_names(f"{ws}/backups"):
        path = f"{ws}/backups/{name}"
        if name.endswith(".gz") and subprocess.run(["gzip", "-t", path], capture_output=True).returncode != 0:
            corrupt.append(f"{name} is not a whole gzip file under its final name")
        if name.endswith(".zst") and subprocess.run(["zstd", "-tq", path], capture_output=True).returncode != 0:
            corrupt.append(f"{name} is not a whole zstd file under its final name")
    return corrupt


def files_outside(ws, target, marker):
    """Files named with `marker` anywhere under / tmp and the workspace but inside `target`."""
    found = []
    for base in {ws, tempfile.gettempdir(), "/tmp"}:
        for dirpath, _, names in os.walk(base):
            if dirpath.startswith(target):
                continue
            found += [os.path.join(dirpath, n) for n in names if marker in n]
    return found


# ---------------------------------------------------------------------------------------------------
# Cases


def kills_during_run_and_prune():
    database = f"fault_kill_{rng.randrange(1 << 20)}"
    make_database(database)
    bucket = make_bucket("kill")
    ws = workspace("kill", database=database, bucket=bucket, data_mib=12, extra="retention: { keep_last: 50 }")
    try:
        # The window to kill in is the shortest run seen: the first run is slower (cold caches, the new
        # signing key), and a kill timed by it alone can land after a warm run has already finished.
        duration = None
        for _ in range(2):
            started = time.monotonic()
            timed = bk(ws, "run")
            totals["runs"] += 1
            if timed.returncode != 0:
                figure("kill-run", f"a timing run failed: {timed.stderr[-400:]}", ok=False)
                return
            duration = min(duration or 1e9, time.monotonic() - started)
        kills, corrupt, recovered = 0, [], 0
        for _ in range(RUNS):
            started = time.monotonic()
            process = start_bk(ws, "run")
            time.sleep(rng.uniform(0, duration * 0.9))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            else:
                duration = min(duration, time.monotonic() - started)
            process.communicate()
            totals["runs"] += 1
            corrupt += corrupt_sets(ws)
            after = bk(ws, "run")
            totals["runs"] += 1
            recovered += after.returncode == 0
        totals["kills"] += kills
        uploads = open_uploads(bucket)
        totals["corrupt_sets"] += len(corrupt)
        totals["orphan_uploads"] += len(uploads)
        ok = not corrupt and not uploads and recovered == RUNS and kills > 0
        figure("kill-run", f"{kills} SIGKILLs in {RUNS} runs ({duration:.1f}s each), {recovered}/{RUNS} next runs succeeded, "
                           f"{len(corrupt)} corrupt sets, {len(uploads)} open multipart uploads after the next run"
               + (f": {corrupt[:3]}" if corrupt else ""), ok)

        # Prune killed at random points: keep_last 1 over the sets the loop made.
        with open(f"{ws}/prune.yml", "w") as f:
            f.write(open(f"{ws}/backup.yml").read().replace("keep_last: 50", "keep_last: 1"))
        kills, corrupt = 0, []
        for _ in range(RUNS):
            for _ in range(3):
                bk(ws, "run", "--no-prune")
                totals["runs"] += 1
            before = [e for s in listing(ws) for e in s["sets"] if e["status"] == "good"]
            # A dry run reads what the prune reads: kill within the time the prune takes.
            started = time.monotonic()
            bk(ws, "prune", "--dry-run", config="prune.yml")
            window = time.monotonic() - started
            process = start_bk(ws, "prune", config="prune.yml")
            time.sleep(rng.uniform(0, window))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.communicate()
            corrupt += corrupt_sets(ws)
            good_after = [e for s in listing(ws) for e in s["sets"] if e["status"] == "good"]
            if before and not good_after:
                corrupt.append("no good set is left after a killed prune")
        totals["kills"] += kills
        totals["corrupt_sets"] += len(corrupt)
        figure("kill-prune", f"{kills} SIGKILLs in {RUNS} prunes, {len(corrupt)} corrupt sets, the newest good set always kept"
               + (f": {corrupt[:3]}" if corrupt else ""), not corrupt)
    finally:
        shutil.rmtree(ws, ignore_errors=True)
        psql(f"DROP DATABASE IF EXISTS {database}")


def s3_faults():
    bucket = make_bucket("proxy")
    host, port = ENV["BACKUPKIT_S3_ENDPOINT"].split("//")[1].split(":")
    proxy = FaultProxy(host, int(port))
    ws = workspace("s3faults", bucket=bucket, endpoint=proxy.url, data_mib=12, s3_extra=", stall_timeout: 2s, max_attempts: 4")
    try:
        good, degraded, corrupt = 0, 0, []
        for _ in range(RUNS):
            proxy.mode, proxy.fault_every = "reset", rng.choice([2, 3, 4])
            run = bk(ws, "run")
            totals["runs"] += 1
            good += run.returncode == 0
            degraded += run.returncode == 4
            corrupt += corrupt_sets(ws)
        proxy.mode, proxy.fault_every = "pass", 0
        totals["faults"] += proxy.faults
        figure("s3-resets", f"{proxy.faults} connections reset mid-request over {proxy.connections} in {RUNS} runs: "
                            f"{good}/{RUNS} runs stored the set in both sinks ({degraded} degraded: S3 gave up, the local copy stored), "
                            f"{len(corrupt)} corrupt sets", good + degraded == RUNS and not corrupt)

        faults_before = proxy.faults
        proxy.mode = "stall"
        started = time.monotonic()
        stalled = bk(ws, "run", "--json")
        elapsed = time.monotonic() - started
        totals["runs"] += 1
        proxy.mode = "pass"
        proxy.close_all()
        totals["faults"] += proxy.faults - faults_before
        report = json.loads(stalled.stdout or "{}")
        offsite = next((s for s in report.get("sinks", []) if s.get("sink") == "offsite"), {})
        ok = stalled.returncode == 4 and offsite.get("status") == "failed"
        figure("s3-stops-answering", f"exit {stalled.returncode} (degraded: the local copy stored, the S3 sink failed) after "
                                     f"{elapsed:.1f}s with stall_timeout 2s", ok)

        after = bk(ws, "run")
        totals["runs"] += 1
        uploads = open_uploads(bucket)
        totals["orphan_uploads"] += len(uploads)
        corrupt = corrupt_sets(ws)
        totals["corrupt_sets"] += len(corrupt)
        figure("s3-after-faults", f"next run exit {after.returncode}, {len(uploads)} open multipart uploads, {len(corrupt)} corrupt sets",
               after.returncode == 0 and not uploads and not corrupt)
    finally:
        proxy.listener.close()
        proxy.close_all()
        shutil.rmtree(ws, ignore_errors=True)


def mount_tmpfs(path, size="1m"):
    os.makedirs(path, exist_ok=True)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path], capture_output=True, text=True)
    return out.returncode == 0, out.stderr.strip()


def full_disks():
    if os.geteuid() != 0:
        figure("enospc", "cannot run: mounting a small tmpfs needs root (CI runs as root)", ok=False)
        return
    for where in ("staging", "sink", "restore-target"):
        ws = workspace(f"enospc-{where}", data_mib=3)
        small = f"{ws}/small"
        try:
            ok_mount, error = mount_tmpfs(small)
            if not ok_mount:
                figure(f"enospc-{where}", f"cannot mount a tmpfs: {error}", ok=False)
                continue
            plan = open(f"{ws}/backup.yml").read()
            if where == "staging":
                plan += "staging_dir: ./small/staging\nstate_dir: ./state\n"
            elif where == "sink":
                plan = plan.replace("path: ./backups", "path: ./small/backups") + "state_dir: ./state\nstaging_dir: ./staging\n"
            open(f"{ws}/backup.yml", "w").write(plan)
            if where == "restore-target":
                first = bk(ws, "run")
                totals["runs"] += 1
                result = bk(ws, "restore", "--to", "small/target")
                left = [os.path.join(d, n) for d, _, ns in os.walk(small) for n in ns]
                ok = result.returncode == 7 and not left and "small/target" in result.stderr and first.returncode == 0
                figure("enospc-restore-target", f"exit {result.returncode}, {len(left)} files left on the full volume", ok)
            else:
                result = bk(ws, "run", "--json")
                totals["runs"] += 1
                code = (json.loads(result.stdout or "{}").get("error") or {}).get("code")
                sink_dir = f"{ws}/small/backups" if where == "sink" else f"{ws}/backups"
                finals = final_names(sink_dir)
                ok = result.returncode == 7 and code == "disk_space" and not finals
                figure(f"enospc-{where}", f"exit {result.returncode} ({code}), {len(finals)} files under a final name in the sink", ok)
            totals["faults"] += 1
        finally:
            subprocess.run(["umount", small], capture_output=True)
            shutil.rmtree(ws, ignore_errors=True)


def store_unsigned_set(ws, artifact_bytes, *, source="minio", subject="hostile", name=None, manifest_edit=None, ext="tar.gz",
                       layout="tree", source_type="directory"):
    """Writes an artifact and an unsigned manifest for it into ws/backups, as someone who can write to
    the sink but has no key could."""
    timestamp = "20240101_000000"
    name = name or f"{source}_{subject}_{timestamp}.{ext}"
    os.makedirs(f"{ws}/backups", exist_ok=True)
    with open(f"{ws}/backups/{name}", "wb") as f:
        f.write(artifact_bytes)
    manifest = {
        "format": 1, "plan": "app", "timestamp": timestamp, "host": "h", "tool_version": "0", "started_at": "2024-01-01T00:00:00Z",
        "completed_at": "2024-01-01T00:00:01Z", "sinks": [], "warnings": [],
        "artifacts": [{"name": name, "source": source, "source_type": source_type, "subject": subject, "format": ext, "layout": layout,
                       "size": len(artifact_bytes), "sha256": hashlib.sha256(artifact_bytes).hexdigest(), "content_bytes": 0,
                       "entries": 2, "duration_seconds": 0, "details": {}, "warnings": [],
                       "verification": {"status": "passed", "checked_at": "2024-01-01T00:00:01Z", "checks": []}}],
    }
    if manifest_edit:
        manifest_edit(manifest)
    with open(f"{ws}/backups/manifest_app_{timestamp}.json", "w") as f:
        json.dump(manifest, f)


def hostile_tar(marker, kind):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        def add(name, data=b"x", **kw):
            info = tarfile.TarInfo(name)
            for k, v in kw.items():
                setattr(info, k, v)
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
        add("good.txt")
        if kind == "dotdot":
            add(f"../../{marker}")
        elif kind == "absolute":
            add(f"/tmp/{marker}")
        elif kind == "symlink":
            add("link", type=tarfile.SYMTYPE, linkname="/tmp")
            add(f"link/{marker}")
        elif kind == "hardlink":
            add(marker, type=tarfile.LNKTYPE, linkname="../../etc/passwd")
        elif kind == "device":
            add(marker, type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        elif kind == "long-name":
            add("a" * 10000 + marker)
    return buffer.getvalue()


def hostile_archives_and_manifests():
    refused, outside = 0, []
    # What each refusal must say: a refusal for another reason (a malformed test manifest) is no pass.
    reasons = {"dotdot": "contains '..'", "absolute": "absolute path", "symlink": "symlink", "hardlink": "contains '..'",
               "device": "device node", "long-name": "at most"}
    kinds = list(reasons)
    for kind in kinds:
        ws = workspace(f"hostile-{kind}", data_mib=1)
        marker = f"escape-{rng.randrange(1 << 30):08x}"
        try:
            store_unsigned_set(ws, hostile_tar(marker, kind))
            result = bk(ws, "restore", "--allow-unsigned", "--to", "target")
            good = result.returncode == 8 and len(result.stderr) < 2000 and reasons[kind] in result.stderr
            refused += good
            outside += files_outside(ws, f"{ws}/target", marker)
            if not good:
                failures.append(f"hostile archive {kind}: exit {result.returncode}: {result.stderr[:300]}")
        finally:
            shutil.rmtree(ws, ignore_errors=True)
    totals["outside"] += len(outside)
    figure("hostile-archives", f"{refused}/{len(kinds)} refused with exit 8 and a short message, {len(outside)} files outside the target",
           refused == len(kinds) and not outside)

    edits = {
        "source ../../escape": lambda m: m["artifacts"][0].update(source="../../escape"),
        "subject ../../escape": lambda m: m["artifacts"][0].update(subject="../../escape"),
        "absolute artifact name": lambda m: m["artifacts"][0].update(name="/etc/passwd"),
        "plan mismatch": lambda m: m.update(plan="other"),
    }
    refused, outside = 0, []
    for label, edit in edits.items():
        ws = workspace("hostile-manifest", data_mib=1)
        marker = f"escape-{rng.randrange(1 << 30):08x}"
        try:
            store_unsigned_set(ws, hostile_tar(marker, "none"), manifest_edit=edit)
            result = bk(ws, "restore", "--allow-unsigned", "--to", "target")
            good = result.returncode == 8 and "invalid manifest" in result.stderr
            refused += good
            outside += files_outside(ws, f"{ws}/target", "escape")
            if not good:
                failures.append(f"hostile manifest {label}: exit {result.returncode}: {result.stderr[:300]}")
        finally:
            shutil.rmtree(ws, ignore_errors=True)
    # A signed manifest changed afterwards, and one that is too large to read.
    ws = workspace("hostile-signed", data_mib=1)
    try:
        bk(ws, "run")
        totals["runs"] += 1
        manifest = next(n for n in final_names(f"{ws}/backups") if n.startswith("manifest_"))
        text = open(f"{ws}/backups/{manifest}").read().replace('"host" : "', '"host" : "x', 1)
        open(f"{ws}/backups/{manifest}", "w").write(text)
        result = bk(ws, "restore", "--to", "target")
        tampered_ok = result.returncode == 8 and manifest in result.stderr and "signature" in result.stderr
        refused += tampered_ok
        big = f"{ws}/backups/manifest_app_20230101_000000.json"
        with open(big, "wb") as f:
            f.truncate(65 << 20)
        listed = bk(ws, "list", "--json")
        big_ok = listed.returncode == 0 and "not read" in listed.stdout
        refused += big_ok
    finally:
        shutil.rmtree(ws, ignore_errors=True)
    totals["outside"] += len(outside)
    total = len(edits) + 2
    figure("hostile-manifests", f"{refused}/{total} refused (bad names, a changed signed manifest, a 65 MiB manifest left unread), "
                                f"{len(outside)} files outside the target", refused == total and not outside)


def hostile_dumps():
    database = f"fault_dump_{rng.randrange(1 << 20)}"
    make_database(database)
    ws = workspace("hostile-dump", database=database, data_mib=1)
    commands = ["\\! touch {m}", "SELECT 1 \\! touch {m}", "\\o |touch {m}", "\\copy items to program 'touch {m}'",
                "\\set x `touch {m}`"]
    refused, ran = 0, 0
    try:
        if not backed_up(ws, "hostile-dumps"):
            return
        dump = next(n for n in final_names(f"{ws}/backups") if n.startswith("db_") and n.endswith(".sql.gz"))
        manifest_name = next(n for n in final_names(f"{ws}/backups") if n.startswith("manifest_"))
        manifest = json.load(open(f"{ws}/backups/{manifest_name}"))
        sql = gzip.decompress(open(f"{ws}/backups/{dump}", "rb").read()).decode()
        for index, command in enumerate(commands):
            marker = f"{ws}/shell-ran-{index}"
            tampered = gzip.compress((command.format(m=marker) + "\n" + sql).encode())
            open(f"{ws}/backups/{dump}", "wb").write(tampered)
            # Someone without the key: the size and SHA-256 fixed, the signature removed.
            for artifact in manifest["artifacts"]:
                if artifact["name"] == dump:
                    artifact.update(size=len(tampered), sha256=hashlib.sha256(tampered).hexdigest())
            manifest.pop("signature", None)
            json.dump(manifest, open(f"{ws}/backups/{manifest_name}", "w"))
            target = f"fault_target_{index}_{rng.randrange(1 << 20)}"
            restore = bk(ws, "restore", "--allow-unsigned", "--only", "db", "--to-database", target)
            drill = bk(ws, "verify", "--latest", "--allow-unsigned", "--restore-test")
            good = restore.returncode == 8 and drill.returncode == 3
            refused += good
            if not good:
                failures.append(f"tampered dump `{command}`: restore exit {restore.returncode}, drill exit {drill.returncode}: {restore.stderr[-300:]}")
            ran += os.path.exists(marker)
            psql(f"DROP DATABASE IF EXISTS {target}")
    finally:
        shutil.rmtree(ws, ignore_errors=True)
        psql(f"DROP DATABASE IF EXISTS {database}")
    totals["shell_commands"] += ran
    figure("hostile-dumps", f"{refused}/{len(commands)} tampered plain dumps refused by restore and the drill, {ran} shell commands run",
           refused == len(commands) and ran == 0)


def bad_plans():
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(12))
    plans = {
        "malformed yaml": "name: app\nsources: [ {name: x\n",
        "alias bomb": bomb,
        "unknown key": "name: app\nsourcez: []\n",
        "empty sink path": "name: app\nsources: [{ name: m, type: directory, path: ./data }]\nsinks: [{ name: l, type: local, path: \"\" }]\n",
        "sink path is a file": "name: app\nsources: [{ name: m, type: directory, path: ./data }]\nsinks: [{ name: l, type: local, path: ./etc/app.env }]\n",
        "unknown type": "name: app\nsources: [{ name: m, type: dirctory, path: ./data }]\nsinks: [{ name: l, type: local, path: ./b }]\n",
        "2 MiB plan": "name: app\n# " + "x" * (2 << 20) + "\n",
        "bad duration": "name: app\nstale_after: soon\nsources: [{ name: m, type: directory, path: ./data }]\nsinks: [{ name: l, type: local, path: ./b }]\n",
    }
    ok_count, slowest = 0, 0.0
    for label, text in plans.items():
        ws = workspace("plan", data_mib=1)
        try:
            open(f"{ws}/bad.yml", "w").write(text)
            started = time.monotonic()
            result = bk(ws, "config", "check", config="bad.yml", timeout=60)
            slowest = max(slowest, time.monotonic() - started)
            good = result.returncode == 2 and "bad.yml" in result.stderr and len(result.stderr) < 4000
            ok_count += good
            if not good:
                failures.append(f"bad plan {label}: exit {result.returncode}: {result.stderr[:300]}")
        finally:
            shutil.rmtree(ws, ignore_errors=True)
    figure("bad-plans", f"{ok_count}/{len(plans)} refused with exit 2 naming the file, slowest {slowest:.2f}s", ok_count == len(plans))


def signals_with_hooks():
    ok_count, tries = 0, max(1, RUNS)
    for attempt in range(tries):
        ws = workspace("signal", data_mib=40, extra="hooks:\n  before_backup: [\"touch hook-before\"]\n  after_backup: [\"touch hook-after\"]\n")
        try:
            process = start_bk(ws, "run")
            started = wait_for(lambda: os.path.exists(f"{ws}/hook-before"), timeout=60)
            process.send_signal(signal.SIGTERM)
            totals["faults"] += 1
            out, err = process.communicate(timeout=120)
            totals["runs"] += 1
            staging = [os.path.join(d, n) for d, _, ns in os.walk(f"{ws}/backups/.staging") for n in ns]
            finals = [n for n in final_names(f"{ws}/backups") if not n.startswith("manifest_")]
            manifests = [n for n in final_names(f"{ws}/backups") if n.startswith("manifest_")]
            good = (started and process.returncode == 16 and os.path.exists(f"{ws}/hook-after") and not staging
                    and not manifests and "interrupted" in err)
            ok_count += good
            if not good:
                failures.append(f"signal: exit {process.returncode}, after hook {os.path.exists(ws + '/hook-after')}, staging {staging}, {err[-300:]}")
            # Two signals: the second ends the process at once.
            process = start_bk(ws, "run")
            wait_for(lambda: os.path.exists(f"{ws}/hook-before"), timeout=60)
            process.send_signal(signal.SIGTERM)
            process.send_signal(signal.SIGTERM)
            totals["faults"] += 2
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                failures.append("a second SIGTERM did not end the run within 30 s")
            totals["runs"] += 1
            corrupt = corrupt_sets(ws)
            totals["corrupt_sets"] += len(corrupt)
        finally:
            shutil.rmtree(ws, ignore_errors=True)
    figure("signals-with-hooks", f"{ok_count}/{tries} SIGTERMs mid-run exited 16 with after_backup run, no staging left and "
                                 f"no manifest; a second SIGTERM ended the run at once", ok_count == tries)


def bit_rot():
    database = f"fault_rot_{rng.randrange(1 << 20)}"
    make_database(database)
    extra_sources = "\n".join([
        f"  - {{ name: dbc, type: postgres, format: custom, host: {ENV['BACKUPKIT_PG_HOST']}, port: {ENV['BACKUPKIT_PG_PORT']}, "
        f"user: {ENV['BACKUPKIT_PG_USER']}, database: {database}, password_file: ./pgpass }}",
        "  - { name: zst, type: directory, path: ./data, subject: zst, archive: { format: tar.zst } }",
        "  - { name: plain, type: directory, path: ./etc, subject: plain, archive: { format: tar } }",
    ])
    ws = workspace("bitrot", database=database, extra_sources=extra_sources, data_mib=2)
    detected, tried = 0, 0
    try:
        if not backed_up(ws, "bit-rot"):
            return
        names = final_names(f"{ws}/backups")
        for name in names:
            path = f"{ws}/backups/{name}"
            original = open(path, "rb").read()
            for _ in range(max(1, RUNS)):
                damaged = bytearray(original)
                offset = rng.randrange(len(damaged))
                damaged[offset] ^= 1 << rng.randrange(8)
                tmp = path + ".rot"
                open(tmp, "wb").write(bytes(damaged))
                os.rename(tmp, path)
                tried += 1
                totals["faults"] += 1
                verify = bk(ws, "verify", "--latest")
                restore = bk(ws, "restore", "--to", "target")
                wrote = os.path.exists(f"{ws}/target")
                caught = verify.returncode == 3 and restore.returncode in (3, 8) and not wrote
                detected += caught
                if not caught:
                    failures.append(f"bit rot in {name} at byte {offset}: verify exit {verify.returncode}, restore exit {restore.returncode}, "
                                    f"target written: {wrote}: {restore.stderr[-200:]}")
                shutil.rmtree(f"{ws}/target", ignore_errors=True)
                open(tmp, "wb").write(original)
                os.rename(tmp, path)
        kinds = sorted({n.split(".", 1)[1] for n in names})
    finally:
        shutil.rmtree(ws, ignore_errors=True)
        psql(f"DROP DATABASE IF EXISTS {database}")
    figure("bit-rot", f"{detected}/{tried} flipped bits caught by verify (exit 3) and by restore before writing, across "
                      f"{', '.join(kinds)}", detected == tried)


def main():
    print(f"fault suite: FAULT_RUNS={RUNS} FAULT_SEED={SEED} backupctl={BACKUPCTL}", flush=True)
    started = time.monotonic()
    for case in (bad_plans, hostile_archives_and_manifests, hostile_dumps, bit_rot, full_disks, signals_with_hooks, s3_faults,
                 kills_during_run_and_prune):
        try:
            case()
        except Exception as error:  # a case that cannot run is a failure, never a skip
            figure(case.__name__, f"raised {type(error).__name__}: {error}", ok=False)
    t = totals
    print(f"fault suite: {t['runs']} runs, {t['kills']} kills, {t['faults']} faults, {t['cases']} cases in "
          f"{time.monotonic() - started:.0f}s; {t['corrupt_sets']} corrupt sets, {t['outside']} files outside a target, "
          f"{t['orphan_uploads']} orphan uploads, {t['shell_commands']} shell commands run", flush=True)
    if failures or any(t[k] for k in ("corrupt_sets", "outside", "orphan_uploads", "shell_commands")):
        print("fault suite FAILED:\n  " + "\n  ".join(failures), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
