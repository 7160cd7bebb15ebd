"""The worker: runs inside a code location's own interpreter.

The host sends this module's source over an execnet channel (``remote_exec``); it never
runs inside the host. It imports only the standard library and runs on Python 3.8+.
The host's ``pytest_workspace.protocol`` and ``pytest_workspace.definitions`` arrive in the
``init`` message as source text and are installed under their own names, so user code
can ``from pytest_workspace.definitions import job`` in an interpreter that has nothing
of ours installed.

The loop answers one request at a time: ``{"cmd": ..., **args}`` ->
``{"ok": True, "result": ...}`` or ``{"ok": False, "error": {...}}``.
"""

import difflib
import faulthandler
import hashlib
import importlib
import importlib.util
import marshal
import os
import signal
import sys
import threading
import time
import types

# The file name execnet compiled us under: our own frames are left out of tracebacks.
_THIS_FILE = sys._getframe().f_code.co_filename
_PACKAGE = "pytest_workspace"
#: The protocol this worker speaks; ``pytest_workspace.protocol`` must agree.
PROTOCOL_VERSION = 1
#: The exit status of a worker whose host process is gone.
PARENT_GONE_STATUS = 70
#: How often the parent watch looks at the parent process, in seconds.
PARENT_WATCH_INTERVAL = 0.2


class LoadError(Exception):
    """The location's code could not be found or holds no usable repository."""


class WorkerRequestError(Exception):
    """A request names something this location does not have."""


def install_modules(modules):
    """Install the shipped modules (name -> source) and return their file names."""
    package = sys.modules.get(_PACKAGE)
    if package is None or getattr(package, "__file__", None) is not None:
        # A stand-in package: whatever the interpreter has installed under our name,
        # user code must see the exact modules the host sent.
        package = types.ModuleType(_PACKAGE)
        package.__path__ = []
        package.__package__ = _PACKAGE
        sys.modules[_PACKAGE] = package
    files = set()
    for name in sorted(modules):
        filename = f"<{name}>"
        module = types.ModuleType(name)
        module.__package__ = _PACKAGE
        sys.modules[name] = module
        exec(compile_shipped(modules[name], filename), module.__dict__)
        setattr(package, name.rpartition(".")[2], module)
        files.add(filename)
    return files


def compile_shipped(source, filename):
    """Compile a shipped module, reusing the bytecode this interpreter cached for it.

    Compiling the definitions module costs 25-45 ms in every worker; loading cached
    bytecode takes about a millisecond. The key is the source, the file name and the
    interpreter's cache tag, so another version of the source or of Python never reads
    an entry it did not write.
    """
    folder = bytecode_folder()
    if folder is None:
        return compile(source, filename, "exec")
    key = hashlib.sha256(
        "\0".join((sys.implementation.cache_tag or "", filename, source)).encode("utf-8")
    ).hexdigest()[:40]
    path = os.path.join(folder, key + ".bin")
    try:
        with open(path, "rb") as handle:
            code = marshal.load(handle)
        if isinstance(code, types.CodeType) and code.co_filename == filename:
            return code
    except (OSError, EOFError, ValueError, TypeError):
        pass
    code = compile(source, filename, "exec")
    partial = f"{path}.{os.getpid()}.tmp"
    try:
        with open(partial, "wb") as handle:
            marshal.dump(code, handle)
        os.replace(partial, path)
    except OSError:
        try:
            os.unlink(partial)
        except OSError:
            pass
    return code


def bytecode_folder():
    """The per-user folder of cached bytecode, or None to compile every time.

    Bytecode is code: it is read only from a folder that this user owns and nobody else
    can write. ``python -B`` (PYTHONDONTWRITEBYTECODE) turns the cache off.
    """
    if sys.dont_write_bytecode or not hasattr(os, "getuid"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "pytest-workspace", "bytecode")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        status = os.stat(folder)
    except OSError:
        return None
    if status.st_uid != os.getuid() or status.st_mode & 0o022:
        return None
    return folder


def watch_parent():
    """Exit as soon as the parent process is gone, even if user code is stuck.

    The parent is the host, or a wrapper script that runs the interpreter: either way,
    when it dies this process is re-parented and ``getppid()`` changes. A thread that
    sleeps runs while the main thread is stuck in user code (sleeping, waiting, or
    computing in Python, which releases the GIL regularly).
    """
    parent_pid = os.getppid()
    # The host starts us as the leader of a process group of our own: then what user code
    # started (subprocesses) goes with us. Never kill a group we do not lead.
    own_group = hasattr(os, "killpg") and os.getpgrp() == os.getpid()

    def watch():
        while True:
            time.sleep(PARENT_WATCH_INTERVAL)
            if os.getppid() != parent_pid:
                if own_group:
                    try:
                        os.killpg(0, signal.SIGKILL)
                    except OSError:
                        pass
                os._exit(PARENT_GONE_STATUS)

    thread = threading.Thread(target=watch, name="pytest-workspace-parent-watch")
    thread.daemon = True
    thread.start()


class OutputCapture:
    """Capture what is written to file descriptors 1 and 2, as pytest's fd capture does."""

    def __enter__(self):
        self._saved = []
        for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
            _flush(stream)
            scratch = _scratch_fd()
            self._saved.append((fd, os.dup(fd), scratch))
            os.dup2(scratch, fd)
        self.stdout = self.stderr = ""
        return self

    def __exit__(self, *exc_info):
        _flush(sys.stdout)
        _flush(sys.stderr)
        texts = []
        for fd, saved, scratch in self._saved:
            os.dup2(saved, fd)
            os.close(saved)
            os.lseek(scratch, 0, os.SEEK_SET)
            chunks = []
            chunk = os.read(scratch, 65536)
            while chunk:
                chunks.append(chunk)
                chunk = os.read(scratch, 65536)
            os.close(scratch)
            texts.append(b"".join(chunks).decode("utf-8", "replace"))
        self.stdout, self.stderr = texts
        return False


def _scratch_fd():
    """An anonymous temporary file, as a file descriptor.

    On Linux an unnamed O_TMPFILE file costs nothing to import; elsewhere ``tempfile``
    is imported (it alone takes ~20 ms of a worker's start-up, so only when needed).
    """
    tmpdir = os.environ.get("TMPDIR") or "/tmp"
    if hasattr(os, "O_TMPFILE"):
        try:
            return os.open(tmpdir, os.O_TMPFILE | os.O_RDWR, 0o600)
        except OSError:
            pass
    import tempfile

    handle = tempfile.TemporaryFile()
    try:
        return os.dup(handle.fileno())
    finally:
        handle.close()


def enable_faulthandler():
    """Dump the Python traceback of a crash (segfault, abort) to the real stderr.

    fd 2 is redirected while a request runs, so faulthandler gets a duplicate of the
    original stderr, which the host reads when it reports the crash.
    """
    global _fault_file
    try:
        _fault_file = os.fdopen(os.dup(2), "w")
        faulthandler.enable(file=_fault_file, all_threads=False)
    except (OSError, ValueError, RuntimeError, AttributeError):
        pass


_fault_file = None


def _flush(stream):
    try:
        stream.flush()
    except Exception:
        pass


class LogCapture:
    """Collect the records of Python's ``logging`` while a job runs.

    ``logging`` is imported here, not at start-up: it costs a worker ~15 ms to import,
    and a location that never runs a job never needs it.
    """

    def __init__(self):
        self.records = []
        self._handler = None

    def __enter__(self):
        import logging

        records = self.records

        class Handler(logging.Handler):
            def emit(self, record):
                try:
                    message = record.getMessage()
                except Exception as exc:
                    message = f"<unformattable log message: {exc!r}>"
                records.append(
                    {
                        "timestamp": record.created,
                        "level": record.levelname,
                        "logger": record.name,
                        "op": None,
                        "message": message,
                        "event": None,
                    }
                )

        self._handler = Handler(logging.NOTSET)
        logging.getLogger().addHandler(self._handler)
        return self

    def __exit__(self, *exc_info):
        import logging

        logging.getLogger().removeHandler(self._handler)
        return False


class Location:
    """The loaded code of one location and the requests that act on it."""

    def __init__(self, spec, hidden_files):
        self.spec = spec
        self.hidden = hidden_files
        self.repositories = {}  # name -> RepositoryDefinition, in discovery order
        self.load_output = {"stdout": "", "stderr": ""}
        self.definitions = sys.modules[_PACKAGE + ".definitions"]
        self.protocol = sys.modules[_PACKAGE + ".protocol"]
        # Real Dagster objects (SPEC section 6); it imports dagster only if the user did.
        self.dagster = sys.modules.get(_PACKAGE + "._dagster_adapter")

    # -- loading -------------------------------------------------------------------------

    def load(self):
        """Import the location's code and find its repositories.

        A failed load is an answer, not a broken request: the description carries the
        error, with whatever the import printed.
        """
        error = None
        with OutputCapture() as capture:
            try:
                module = self._import()
                self.repositories = self._find_repositories(module)
            except (Exception, SystemExit) as exc:
                error = self.error(exc, stage="load")
        self.load_output = {"stdout": capture.stdout, "stderr": capture.stderr}
        description = self.describe()
        description["load_error"] = error
        return description

    def _import(self):
        spec = self.spec
        workdir = spec.get("working_directory")
        if workdir:
            if not os.path.isdir(workdir):
                raise LoadError(
                    f"working_directory {workdir} does not exist; create it or fix the "
                    "working_directory of this location"
                )
            os.chdir(workdir)
            sys.path.insert(0, workdir)
        # Right after the working directory: a Dagster project's src/ folder.
        extra = [folder for folder in spec.get("python_path") or () if folder not in sys.path]
        sys.path[1 if workdir else 0 : 1 if workdir else 0] = extra
        if spec["kind"] == "python_file":
            path = spec["target"]
            if not os.path.isfile(path):
                raise LoadError(
                    f"python_file {path} does not exist; fix relative_path (it is relative to "
                    "the workspace file's folder)"
                )
            folder = os.path.dirname(path)
            if folder not in sys.path:
                sys.path.insert(1 if workdir else 0, folder)
            name = os.path.splitext(os.path.basename(path))[0]
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return module
        target = spec["target"]
        try:
            return importlib.import_module(target)
        except ModuleNotFoundError as exc:
            missing = getattr(exc, "name", None) or ""
            if missing and (target == missing or target.startswith(missing + ".")):
                raise LoadError(
                    "{} {} was not found by {} (Python {}, working directory {}); install it "
                    "in that interpreter, or set working_directory to the folder that "
                    "contains it".format(
                        spec["kind"].replace("python_", ""),
                        target,
                        sys.executable,
                        "{}.{}".format(*sys.version_info[:2]),
                        os.getcwd(),
                    )
                ) from None
            raise

    def _find_repositories(self, module):
        d = self.definitions
        attribute = self.spec.get("attribute")
        where = self._target_text()
        if attribute:
            if not hasattr(module, attribute):
                names = [n for n in vars(module) if not n.startswith("_")]
                close = difflib.get_close_matches(attribute, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise LoadError(
                    "{} has no attribute {!r}.{} Top-level names: {}".format(
                        where, attribute, hint, ", ".join(sorted(names)) or "none"
                    )
                )
            found = getattr(module, attribute)
            if isinstance(found, d.RepositoryDefinition):
                return {found.name: found}
            if isinstance(found, d.JobDefinition):
                return self._single_job_repository(found)
            if self._dagster_kind(found) is not None:
                repo = self.dagster.repository_for(found)
                return {repo.name: repo}
            raise LoadError(
                f"attribute {attribute!r} of {where} is an object of type "
                f"{type(found).__name__}, not a repository or a job; point `attribute` at "
                f"a @repository or a @job (or a Dagster Definitions object)"
            )
        repositories = {}
        jobs = []
        dagster_found = {"repository": [], "definitions": []}
        for name, value in list(vars(module).items()):
            if isinstance(value, d.RepositoryDefinition):
                repositories.setdefault(value.name, value)
            elif isinstance(value, d.JobDefinition) and value not in jobs:
                jobs.append(value)
            else:
                kind = self._dagster_kind(value)
                if kind == "job" and value not in jobs:
                    jobs.append(value)
                elif kind in dagster_found and all(v is not value for _, v in dagster_found[kind]):
                    dagster_found[kind].append((name, value))
        # As Dagster does: one Definitions object stands for the module's Dagster code,
        # and repositories count only when there is none.
        if len(dagster_found["definitions"]) > 1:
            raise LoadError(
                "{} defines {} Dagster Definitions objects ({}); Dagster allows one per "
                "module: merge them, or set `attribute` to one".format(
                    where,
                    len(dagster_found["definitions"]),
                    ", ".join(name for name, _ in dagster_found["definitions"]),
                )
            )
        for _, value in dagster_found["definitions"] or dagster_found["repository"]:
            repo = self.dagster.repository_for(value)
            repositories.setdefault(repo.name, repo)
        if repositories:
            return repositories
        if len(jobs) == 1:
            return self._single_job_repository(jobs[0])
        if jobs:
            raise LoadError(
                "{} defines {} jobs ({}) and no repository; declare a @repository that "
                "returns them, or set `attribute` to one job".format(
                    where, len(jobs), ", ".join(sorted(j.name for j in jobs))
                )
            )
        raise LoadError(
            f"{where} defines no repository and no job at top level; declare a @repository "
            "(from pytest_workspace.definitions import repository) or set `attribute`"
        )

    def _dagster_kind(self, value):
        return None if self.dagster is None else self.dagster.kind_of(value)

    def _single_job_repository(self, job_def):
        if self._dagster_kind(job_def) == "job":
            repo = self.dagster.repository_for(job_def)
            return {repo.name: repo}
        name = "__repository__" + job_def.name
        repo = self.definitions.repository(name=name)(lambda: [job_def])
        return {name: repo}

    def _target_text(self):
        spec = self.spec
        return "{} {}".format(spec["kind"].replace("_", " ").replace("python ", ""), spec["target"])

    # -- requests ------------------------------------------------------------------------

    def describe(self):
        repositories = []
        for repo in self.repositories.values():
            repositories.append(
                {
                    "name": repo.name,
                    "description": getattr(repo, "description", None),
                    "source": _source(repo),
                    "jobs": list(repo.job_names),
                    "schedules": list(repo.schedule_names),
                    "sensors": list(repo.sensor_names),
                    "constructed_jobs": list(repo.constructed_job_names),
                    "declared_at": _declared_at(repo),
                }
            )
        return {
            "repositories": repositories,
            "stdout": self.load_output["stdout"],
            "stderr": self.load_output["stderr"],
            "load_error": None,
        }

    def repository(self, name):
        try:
            return self.repositories[name]
        except KeyError:
            raise WorkerRequestError(
                "location has no repository {!r}; it has: {}".format(
                    name, ", ".join(self.repositories) or "none"
                )
            ) from None

    def build_job(self, repository, job):
        repo = self.repository(repository)
        with OutputCapture() as capture:
            job_def = repo.get_job(job)
        return {
            "name": job_def.name,
            "key": job,
            "description": getattr(job_def, "description", None),
            "tags": self.protocol.to_plain(dict(getattr(job_def, "tags", None) or {})),
            "op_names": list(job_def.op_names),
            "dependencies": {k: list(v) for k, v in dict(job_def.dependencies).items()},
            "source": _source(job_def),
            "constructed_jobs": list(repo.constructed_job_names),
            "stdout": capture.stdout,
            "stderr": capture.stderr,
        }

    def execute_job(self, repository, job, run_config=None):
        repo = self.repository(repository)
        started = time.time()
        result = None
        error = None
        logs = LogCapture()
        with OutputCapture() as capture, logs:
            try:
                job_def = repo.get_job(job)
            except Exception as exc:
                error = self.error(exc, stage="build")
            else:
                try:
                    result = job_def.execute_in_process(
                        run_config=run_config or None, raise_on_error=False
                    )
                except self.definitions.RunConfigError as exc:
                    error = self.error(exc, stage="config")
                except (Exception, SystemExit) as exc:
                    error = self.error(exc, stage="execute")
        duration = time.time() - started
        output = {
            "job": job,
            "success": False,
            "run_id": None,
            "steps": [],
            "logs": [],
            "stdout": capture.stdout,
            "stderr": capture.stderr,
            "duration": duration,
            "error": error,
        }
        if result is None:
            output["logs"] = logs.records
            return output
        to_plain = self.protocol.to_plain
        for step in result.step_results.values():
            step_error = None
            if isinstance(step.error, dict):  # error data already (Dagster's results)
                step_error = dict(step.error, stage="execute", op=step.op_name)
            elif step.error is not None:
                step_error = self.error(step.error, stage="execute", op=step.op_name)
            if step_error is not None and output["error"] is None:
                output["error"] = step_error
            output["steps"].append(
                {
                    "op": step.op_name,
                    "status": step.status,
                    "duration": step.duration,
                    "output": to_plain(step.output) if step.status == "success" else None,
                    "error": step_error,
                }
            )
        events = [
            {
                "timestamp": entry.timestamp,
                "level": entry.level,
                "logger": "pytest_workspace",
                "op": entry.op_name,
                "message": entry.message,
                "event": getattr(entry, "event", None),
            }
            for entry in result.logs
        ]
        if output["error"] is None and isinstance(getattr(result, "error", None), dict):
            output["error"] = result.error  # a run that failed outside any op (Dagster)
        _attribute_to_ops(logs.records, events)
        # Stable sort: at equal timestamps the run's own events come first.
        output["logs"] = sorted(events + logs.records, key=lambda entry: entry["timestamp"])
        output["success"] = bool(result.success)
        output["run_id"] = result.run_id
        return output

    def evaluate_schedule(self, repository, schedule):
        repo = self.repository(repository)
        schedule_def = repo.get_schedule(schedule)
        evaluation = {
            "name": schedule_def.name,
            "cron_schedule": schedule_def.cron_schedule,
            "job_name": schedule_def.job_name,
        }
        if not getattr(schedule_def, "cron_validated", False):
            self.definitions.validate_cron_schedule(
                schedule_def.cron_schedule, schedule_def.name
            )
        self._check_target(repo, "schedule", schedule_def)
        with OutputCapture() as capture:
            ticks = schedule_def.evaluate_tick()
        evaluation.update(self._ticks(ticks), stdout=capture.stdout, stderr=capture.stderr)
        return evaluation

    def evaluate_sensor(self, repository, sensor):
        repo = self.repository(repository)
        sensor_def = repo.get_sensor(sensor)
        evaluation = {"name": sensor_def.name, "job_name": sensor_def.job_name}
        self._check_target(repo, "sensor", sensor_def)
        with OutputCapture() as capture:
            ticks = sensor_def.evaluate_tick()
        evaluation.update(self._ticks(ticks), stdout=capture.stdout, stderr=capture.stderr)
        return evaluation

    def _check_target(self, repo, what, definition):
        if definition.job_name is not None and not repo.has_job(definition.job_name):
            raise self.definitions.InvalidTargetError(
                f"{what} {definition.name!r} of repository {repo.name!r} targets job "
                f"{definition.job_name!r}, which is not in the repository"
            )

    def _ticks(self, ticks):
        d = self.definitions
        if isinstance(ticks, d.SkipReason):
            return {"run_requests": [], "skip_reason": ticks.message}
        to_plain = self.protocol.to_plain
        return {
            "skip_reason": None,
            "run_requests": [
                {
                    "run_key": request.run_key,
                    "run_config": to_plain(request.run_config or {}),
                    "tags": to_plain(dict(request.tags or {})),
                }
                for request in ticks
            ],
        }

    def error(self, exc, stage, **extra):
        d = self.definitions
        if isinstance(exc, d.RunConfigError):
            kind = "config"
            missing = list(getattr(exc, "missing", []))
            problems = list(getattr(exc, "problems", []))
            extra["missing"] = [
                pair if isinstance(pair, str) else "{}.{}".format(*tuple(pair)) for pair in missing
            ]
            extra["problems"] = [str(problem) for problem in problems]
            # Only keys missing (nothing wrong): the plugin skips such a job, not fails it.
            only_missing = getattr(exc, "only_missing", None)
            if only_missing is None:
                only_missing = bool(missing) and len(problems) <= len(missing)
            extra["only_missing"] = bool(only_missing)
        elif isinstance(exc, d.DefinitionError):
            kind = "definition"
        elif isinstance(exc, (LoadError, WorkerRequestError)):
            kind = "load" if isinstance(exc, LoadError) else "request"
        else:
            kind = "user"
        data = self.protocol.error_data(
            exc, kind=kind, hidden_files=self.hidden, stage=stage, **extra
        )
        return data


def _attribute_to_ops(records, events):
    """Give each ``logging`` record the op that was running when it was emitted.

    Ops run one after another in this thread, between their STEP_START event and their
    STEP_SUCCESS/STEP_FAILURE event: a record emitted in between belongs to that op.
    """
    spans = []
    for event in events:
        if event.get("event") == "STEP_START":
            spans.append([event["op"], event["timestamp"], None])
        elif event.get("event") in ("STEP_SUCCESS", "STEP_FAILURE") and spans:
            for span in reversed(spans):
                if span[0] == event["op"] and span[2] is None:
                    span[2] = event["timestamp"]
                    break
    for record in records:
        for op_name, start, end in spans:
            if start <= record["timestamp"] and (end is None or record["timestamp"] <= end):
                record["op"] = op_name


def _declared_at(repo):
    """``{"jobs": {name: [file, line]}, ...}`` for the members whose place is known."""
    declared_at = getattr(repo, "declared_at", None)
    places = {}
    for kind, names in (
        ("job", repo.job_names),
        ("schedule", repo.schedule_names),
        ("sensor", repo.sensor_names),
    ):
        found = {}
        for name in names:
            place = declared_at(kind, name) if declared_at is not None else None
            if place:
                found[name] = [str(place[0]), int(place[1])]
        places[kind + "s"] = found
    return places


def _source(definition):
    location = getattr(definition, "source_location", None)
    if not location:
        return None
    return [str(location[0]), int(location[1])]


def _protocol_error(message, stage="init"):
    return {
        "ok": False,
        "error": {
            "type": "ProtocolError",
            "kind": "protocol",
            "message": message,
            "traceback": "",
            "stage": stage,
        },
    }


def start(channel, init):
    """Check the host's init message and install the shipped modules.

    Returns ``(location, reply)``: ``location`` is None when the worker refuses to serve.
    """
    if not isinstance(init, dict) or init.get("cmd") != "init":
        return None, _protocol_error(f"the first message must be an init request, got {init!r}")
    if init.get("protocol") != PROTOCOL_VERSION:
        return None, _protocol_error(
            "the host speaks protocol version {!r} but this worker speaks version {!r}: the "
            "host and the worker come from different versions of pytest-workspace; "
            "reinstall it so that both sides are the same version".format(
                init.get("protocol"), PROTOCOL_VERSION
            )
        )
    try:
        hidden = install_modules(init["modules"])
    except Exception as exc:
        return None, {
            "ok": False,
            "error": {
                "type": type(exc).__name__,
                "kind": "protocol",
                "stage": "init",
                "message": "the modules sent by the host do not run on Python "
                f"{sys.version.split()[0]}: {exc}",
                "traceback": "",
            },
        }
    hidden.add(_THIS_FILE)
    protocol = sys.modules[_PACKAGE + ".protocol"]
    if protocol.PROTOCOL_VERSION != PROTOCOL_VERSION:
        return None, _protocol_error(
            f"the host sent protocol module version {protocol.PROTOCOL_VERSION!r} to a worker "
            f"of version {PROTOCOL_VERSION!r}"
        )
    location = Location(init.get("location") or {}, hidden)
    return location, {"ok": True, "result": protocol.interpreter_info()}


def serve(channel):
    """Answer the host's requests, one at a time, until it closes the channel."""
    watch_parent()
    enable_faulthandler()
    location, reply = start(channel, channel.receive())
    channel.send(reply)
    if location is None:
        return
    handlers = {
        "load": location.load,
        "describe": location.describe,
        "build_job": location.build_job,
        "execute_job": location.execute_job,
        "evaluate_schedule": location.evaluate_schedule,
        "evaluate_sensor": location.evaluate_sensor,
    }
    while True:
        try:
            request = channel.receive()
        except EOFError:
            return
        if request is None:
            return
        if not isinstance(request, dict):
            channel.send(_protocol_error(f"a request must be a dict, got {request!r}", "request"))
            continue
        args = dict(request)
        command = args.pop("cmd", None)
        handler = handlers.get(command)
        if handler is None:
            reply = _protocol_error(
                "unknown command {!r}; this worker knows: {}".format(command, ", ".join(handlers)),
                "request",
            )
        else:
            try:
                reply = {"ok": True, "result": handler(**args)}
            except (Exception, SystemExit) as exc:
                reply = {"ok": False, "error": location.error(exc, stage=command)}
        channel.send(reply)


if __name__ == "__channelexec__":
    serve(channel)  # type: ignore[name-defined]  # noqa: F821
