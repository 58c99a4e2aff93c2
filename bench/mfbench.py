"""Shared pieces of milkflow's benchmarks and drills (stdlib only): processes, databases, the Web Push sink
(`milkflow-bench sink`), seeding and the scheduler processes.

Binaries come from `MILKFLOW_BIN_DIR` (default `target/release`; the drills' CI runs pass `target/debug`).
"""
import json, os, signal, socket, subprocess, tempfile, time, urllib.request, uuid, shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("MILKFLOW_BIN_DIR") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"))
PG = os.environ.get("MILKFLOW_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def log(*args):
    print(*args, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None, token=None, timeout=10):
    """(status, parsed JSON or None, headers); HTTP errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return e.code, parsed, {k.lower(): v for k, v in e.headers.items()}


def sign_up(base, email, password="gentle-circles-42"):
    """Registers `email` and signs in, as the app does; the login's body (tokens and user)."""
    status, body, _ = http("POST", base + "/v1/auth/register", {"email": email, "password": password})
    if status != 202:
        raise SystemExit(f"registration answered {status}: {body}")
    status, session, _ = http("POST", base + "/v1/auth/login", {"email": email, "password": password})
    if status != 200:
        raise SystemExit(f"login answered {status}: {session}")
    return session


def wait_ready(url, proc, timeout=60):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"process exited while starting: {url}")
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.005)
    raise SystemExit(f"not ready after {timeout} s: {url}")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Proc:
    """A child process in its own session and working directory, its output in a log file there (the services
    log to stdout). With `read_stdout`, stdout is a pipe instead, for a tool that says where it listens."""

    def __init__(self, binary, env=None, args=(), log_level="warn", cwd=None, read_stdout=False):
        e = {k: v for k, v in os.environ.items() if not k.startswith("MILKFLOW_")}
        e.update({"RUST_LOG": log_level, "MILKFLOW_AUTH_RATE_LIMIT_PER_MINUTE": "0", "MILKFLOW_WORKERS": "2"})
        e.update(env or {})
        self.dir = cwd or tempfile.mkdtemp(prefix="mf-bench-")
        self.log_path = os.path.join(self.dir, f"{binary}-{uuid.uuid4().hex[:6]}.log")
        self.log_file = open(self.log_path, "wb")
        # An unread pipe would stall a process once its logs filled the pipe's buffer.
        stdout = subprocess.PIPE if read_stdout else self.log_file
        self.p = subprocess.Popen([os.path.join(BIN, binary), *args], cwd=self.dir, env=e, stdout=stdout,
                                  stderr=self.log_file, start_new_session=True)
        self.pid = self.p.pid

    def first_line(self):
        line = self.p.stdout.readline()
        if not line:
            self.p.wait(15)
            raise SystemExit(f"{self.p.args[0]} exited ({self.p.returncode}) before saying where it listens:\n"
                             + self.log_text()[-2000:])
        return json.loads(line)

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            os.killpg(self.p.pid, sig)
            self.p.wait(15)

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log_file.close()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Sink:
    """The Web Push sink (`milkflow-bench sink`)."""

    def __init__(self, *args, workers=1):
        self.proc = Proc("milkflow-bench", args=["sink", "--workers", str(workers), *args], read_stdout=True)
        self.base = "http://" + self.proc.first_line()["listen"]
        self.endpoint = self.base + "/push"

    def arrivals(self):
        with urllib.request.urlopen(self.base + "/arrivals", timeout=60) as r:
            return json.loads(r.read())

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self.base + "/reset", method="POST"), timeout=10).read()

    def count(self, status=None):
        query = f"?status={status}" if status else ""
        with urllib.request.urlopen(self.base + "/count" + query, timeout=10) as r:
            return json.loads(r.read())

    def wait_count(self, n, timeout, status=None, every=0.5):
        """Waits until n arrivals (with `status`, if given) are recorded; returns all arrivals."""
        deadline = time.time() + timeout
        while self.count(status) < n and time.time() < deadline:
            time.sleep(every)
        return self.arrivals()

    def stop(self):
        self.proc.cleanup()


def device_keys():
    out = subprocess.run([os.path.join(BIN, "milkflow-bench"), "keys"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def seed(db_url, sink, keys, users, routines_per_user, gone_every=0, lead_s=30, far=False, spread_s=0):
    args = [os.path.join(BIN, "milkflow-bench"), "seed", "--database-url", db_url, "--users", str(users),
            "--routines-per-user", str(routines_per_user), "--endpoint", sink.endpoint, "--p256dh", keys["p256dh"],
            "--auth", keys["auth"], "--gone-every", str(gone_every), "--lead-s", str(lead_s),
            "--spread-s", str(spread_s)]
    if far:
        args.append("--far")
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("seeding failed: " + out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def scheduler(db_url, extra=None, log_level="warn"):
    port = free_port()
    env = {"MILKFLOW_DATABASE_URL": db_url, "MILKFLOW_LISTEN": f"127.0.0.1:{port}",
           "MILKFLOW_PUSH_ALLOW_INSECURE": "true", "MILKFLOW_JWT_SECRET": "bench-secret-" + "x" * 32}
    env.update(extra or {})
    proc = Proc("milkflow-scheduler", env, log_level=log_level)
    proc.base = f"http://127.0.0.1:{port}"
    wait_ready(proc.base + "/readyz", proc.p)
    return proc


def pg_available():
    try:
        return subprocess.run(["psql", PG, "-qAtc", "select 1"], capture_output=True, timeout=10).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


class PgDatabase:
    """A fresh PostgreSQL database, dropped on close."""

    def __init__(self, server=PG):
        self.server = server
        self.name = "bench_" + uuid.uuid4().hex[:10]
        subprocess.run(["psql", server, "-qc", f'create database "{self.name}"'], check=True, capture_output=True)
        self.url = server.rsplit("/", 1)[0] + "/" + self.name

    def query(self, sql):
        out = subprocess.run(["psql", self.url, "-qAtc", sql], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def close(self):
        subprocess.run(["psql", self.server, "-qc", f'drop database if exists "{self.name}" with (force)'],
                       capture_output=True)


def percentile(values, p):
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]
