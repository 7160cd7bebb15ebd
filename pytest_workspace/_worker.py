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

import faulthandler
import importlib
import importlib.util
import json
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
#: Shipped modules named so are backends (``_backend.py``), asked in the order shipped.
_BACKEND_PREFIX = _PACKAGE + "._backend_"
#: The protocol this worker speaks; ``pytest_workspace.protocol`` must agree.
PROTOCOL_VERSION = 8
#: The exit status of a worker whose host process is gone.
PARENT_GONE_STATUS = 70
#: How often the parent watch looks at the parent process, in seconds.
PARENT_WATCH_INTERVAL = 0.2
#: The exit status of a process forked by user code that reaches the worker's channel.
FORKED_CHILD_STATUS = 0
#: The pid of the worker; a process forked from it (by user code) has another.
_WORKER_PID = os.getpid()


def install_modules(modules):
    """Install the shipped modules (``[name, source]`` pairs, each after those it
    imports) and return their file names."""
    package = sys.modules.get(_PACKAGE)
    if package is None or getattr(package, "__file__", None) is not None:
        # A stand-in package: whatever the interpreter has installed under our name,
        # user code must see the exact modules the host sent.
        package = types.ModuleType(_PACKAGE)
        package.__path__ = []
        package.__package__ = _PACKAGE
        sys.modules[_PACKAGE] = package
    files = set()
    for entry in modules:
        name = entry[0]
        files.add(f"<{name}>")
        if len(entry) < 3:  # a module installed later is a LazyBackend's
            install_module(package, name, entry[1])
    return files


def install_module(package, name, source):
    module = types.ModuleType(name)
    module.__package__ = _PACKAGE
    sys.modules[name] = module
    exec(compile_shipped(source, f"<{name}>"), module.__dict__)
    setattr(package, name.rpartition(".")[2], module)
    return module


class LazyBackend:
    """A backend shipped as ``[name, source, library]``: its module is compiled when
    ``library`` is imported, by the location's code or for an ``autoload`` (which
    imports it). Until then it owns nothing, which is what the backend itself would say
    of code that does not import its library."""

    def __init__(self, location, name, source, library):
        self._location = location
        self._name = name
        self._source = source
        self._library = library
        self._backend = None

    def _real(self):
        if self._backend is None:
            module = install_module(sys.modules[_PACKAGE], self._name, self._source)
            self._backend = module.BACKEND(self._location)
        return self._backend

    def _active(self):
        return self._backend is not None or self._library in sys.modules

    def repositories_for(self, value):
        return self._real().repositories_for(value) if self._active() else None

    def scan(self, module, where):
        return self._real().scan(module, where) if self._active() else ([], [])

    def close(self):
        if self._backend is not None:
            self._backend.close()

    def __getattr__(self, attribute):  # autoload, attribute_targets, the rest
        return getattr(self._real(), attribute)


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
    # ``python -B`` reads the cache but does not write it, as Python does with .pyc files.
    write = not sys.dont_write_bytecode
    import hashlib  # 4 ms to import: only where the cache is on

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
    if not write:
        return code
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
    can write. Under ``python -B`` (PYTHONDONTWRITEBYTECODE) the folder is not made.
    """
    if not hasattr(os, "getuid"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "pytest-workspace", "bytecode")
    try:
        if not sys.dont_write_bytecode:
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

    A worker forked by a zygote (``_zygote.py``) watches the host instead, which the
    zygote names (pid and start time) in ``__main__``: the zygote may die first, and
    then its workers go on serving the host.
    """
    parent_pid = os.getppid()
    host = getattr(sys.modules.get("__main__"), "pytest_workspace_host", None)
    if host:
        host_pid, host_started = host

        def parent_gone():
            return _start_time(host_pid) != host_started

    else:

        def parent_gone():
            return os.getppid() != parent_pid

    # The host starts us as the leader of a process group of our own: then what user code
    # started (subprocesses) goes with us. Never kill a group we do not lead.
    own_group = hasattr(os, "killpg") and os.getpgrp() == os.getpid()

    def watch():
        while True:
            time.sleep(PARENT_WATCH_INTERVAL)
            if parent_gone():
                reaper = sys.modules.get(_PACKAGE + "._reaper")
                if reaper is not None:  # also what left our group (setsid)
                    reaper.kill_descendants(os.getpid())
                if own_group:
                    try:
                        os.killpg(0, signal.SIGKILL)
                    except OSError:
                        pass
                os._exit(PARENT_GONE_STATUS)

    thread = threading.Thread(target=watch, name="pytest-workspace-parent-watch")
    thread.daemon = True
    thread.start()


def _start_time(pid):
    """When ``pid`` started (clock ticks since boot): None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


class OutputCapture:
    """Capture what is written to file descriptors 1 and 2, as pytest's fd capture does.

    Each fd has one scratch file and one duplicate of the original for the worker's
    life: a call costs a few system calls (about 20 µs), not the making of two files
    (0.3 ms each). A scratch file is emptied only when something was written to it. A
    capture inside another gets scratch files of its own.
    """

    #: fd -> (its reusable scratch file, a duplicate of the original fd), on first use.
    _kept = {}
    #: The scratch files a capture holds now.
    _busy = set()

    def __enter__(self):
        self._saved = []
        for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
            _flush(stream)
            kept = self._kept.get(fd)
            if kept is None:
                kept = self._kept[fd] = (_scratch_fd(), os.dup(fd))
            scratch, original = kept
            if scratch in self._busy:  # nested: a file of its own, and a fresh original
                scratch, original = _scratch_fd(), os.dup(fd)
            elif os.lseek(scratch, 0, os.SEEK_END):  # written to since (a late writer)
                _empty(scratch)
            self._busy.add(scratch)
            self._saved.append((fd, original, scratch, kept))
            os.dup2(scratch, fd)
        self.stdout = self.stderr = ""
        return self

    def __exit__(self, *exc_info):
        # A forked child must not touch the scratch files it shares with the worker.
        leave_if_forked()
        _flush(sys.stdout)
        _flush(sys.stderr)
        texts = []
        for fd, original, scratch, kept in self._saved:
            os.dup2(original, fd)
            size = os.lseek(scratch, 0, os.SEEK_END)
            data = _read_all(scratch, size) if size else b""
            self._busy.discard(scratch)
            if kept == (scratch, original):
                if size:
                    _empty(scratch)  # kept for the next call, without this call's output
            else:
                os.close(scratch)
                os.close(original)
            texts.append(data.decode("utf-8", "replace"))
        self.stdout, self.stderr = texts
        return False


def _read_all(fd, size):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    chunk = os.read(fd, max(size, 65536))
    while chunk:
        chunks.append(chunk)
        chunk = os.read(fd, 65536)
    return b"".join(chunks)


def _empty(scratch):
    os.ftruncate(scratch, 0)
    os.lseek(scratch, 0, os.SEEK_SET)


class WarningCapture:
    """Record the warnings user code raises during a call, every one of them.

    As ``warnings.catch_warnings(record=True)`` with ``simplefilter("always")``, so the
    host can apply the user's pytest filters (``-W error``, ``filterwarnings``) when it
    re-emits them, except that the filters the user's code set (at import time, or in
    an earlier call) still win: "always" overrides only the interpreter's own filters
    (``baseline``, as they were when the worker started, such as Python's default
    ignoring of DeprecationWarning). Filters set during a call are kept after it.
    """

    def __init__(self, baseline):
        self._baseline = {id(entry) for entry in baseline}

    def __enter__(self):
        import warnings

        saved = list(warnings.filters)
        self._saved = {id(entry) for entry in saved}
        self._catcher = warnings.catch_warnings(record=True)
        self._log = self._catcher.__enter__()
        self._always = ("always", None, Warning, None, 0)
        warnings.filters[:] = (
            [entry for entry in saved if id(entry) not in self._baseline]
            + [self._always]
            + [entry for entry in saved if id(entry) in self._baseline]
        )
        _filters_mutated(warnings)
        self.warnings = []
        return self

    def __exit__(self, *exc_info):
        import warnings

        added = [
            entry
            for entry in warnings.filters
            if entry is not self._always and id(entry) not in self._saved
        ]
        self._catcher.__exit__(*exc_info)
        if added:
            warnings.filters[:0] = added
            _filters_mutated(warnings)
        qualified_name = sys.modules[_PACKAGE + ".protocol"].qualified_name
        self.warnings = [
            {
                "category": qualified_name(entry.category),
                "message": _text(entry.message),
                "filename": str(entry.filename),
                "lineno": int(entry.lineno or 0),
            }
            for entry in self._log
        ]
        return False


def _filters_mutated(warnings):
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:
        mutated()


def _text(value):
    try:
        return str(value)
    except Exception as exc:
        return f"<{type(value).__name__}: str() failed: {exc!r}>"


class CallCapture:
    """What a call leaves besides its result: output on fds 1 and 2, and warnings."""

    #: The interpreter's own warning filters, as they were before any user code ran.
    baseline_filters = ()

    def __enter__(self):
        self._output = OutputCapture()
        self._warnings = WarningCapture(CallCapture.baseline_filters)
        self._output.__enter__()
        self._warnings.__enter__()
        return self

    def __exit__(self, *exc_info):
        try:
            self._warnings.__exit__(*exc_info)
        finally:
            self._output.__exit__(*exc_info)
        return False

    @property
    def data(self):
        """``{"stdout", "stderr", "warnings"}`` of the call, for its result."""
        return {
            "stdout": self._output.stdout,
            "stderr": self._output.stderr,
            "warnings": self._warnings.warnings,
        }


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
    and a location that never runs a job never needs it. One handler serves every
    capture (a new ``logging.Handler`` per call, with its class and its lock, cost a
    trivial job 50 us); a capture inside another gets one of its own.
    """

    #: The handler kept for the next capture, made on first use.
    _kept = None

    def __init__(self):
        self.records = []
        self._handler = None

    def __enter__(self):
        import logging

        handler = LogCapture._kept
        if handler is None:
            handler = _record_handler(logging)
        else:
            LogCapture._kept = None  # in use: a nested capture makes its own
        handler.records = self.records
        self._handler = handler
        logging.getLogger().addHandler(handler)
        return self

    def __exit__(self, *exc_info):
        import logging

        handler = self._handler
        logging.getLogger().removeHandler(handler)
        handler.records = None
        LogCapture._kept = handler
        return False


def _record_handler(logging):
    """A ``logging`` handler that appends each record, as plain data, to ``.records``."""

    class Handler(logging.Handler):
        records = None

        def emit(self, record):
            try:
                message = record.getMessage()
            except Exception as exc:
                message = f"<unformattable log message: {exc!r}>"
            records = self.records
            if records is None:  # a record logged after its capture ended
                return
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

    return Handler(logging.NOTSET)


#: The keys of a backend's run data that the worker itself turns into the reply.
_RUN_KEYS = ("success", "run_id", "steps", "events", "error")


class Location:
    """The loaded code of one location and the requests that act on it.

    What depends on the kind of code (discovery, building, running, evaluating) is the
    backends' (``_backend.py``); this class serves requests and wraps each call in
    output and log capture.
    """

    def __init__(self, spec, hidden_files, backend_modules):
        self.spec = spec
        self.hidden = hidden_files
        #: name -> (backend, repository), in discovery order
        self.repositories = {}
        self.load_output = {"stdout": "", "stderr": "", "warnings": []}
        self.definitions = sys.modules[_PACKAGE + ".definitions"]
        self.protocol = sys.modules[_PACKAGE + ".protocol"]
        self.seam = sys.modules[_PACKAGE + "._backend"]
        self.backends = [
            LazyBackend(self, *entry) if len(entry) > 2 else sys.modules[entry[0]].BACKEND(self)
            for entry in backend_modules
        ]

    # -- loading -------------------------------------------------------------------------

    def load(self):
        """Import the location's code and find its repositories.

        A failed load is an answer, not a broken request: the description carries the
        error, with whatever the import printed.
        """
        error = None
        import gc

        # The import makes objects that live as long as the worker: the collector's
        # full passes over them while they are being made find nothing to free
        # (0.07 s of a Dagster import). After it they move to the permanent generation,
        # which later collections (during runs) do not walk.
        collecting = gc.isenabled()
        gc.disable()
        try:
            with CallCapture() as capture:
                module = None
                try:
                    module = self._import()
                    self.repositories = self._find_repositories(module)
                except BaseException as exc:  # the user's, KeyboardInterrupt included
                    # Raised while importing, or after it (a @definitions function, a
                    # library refusing what the module defines): the host says which.
                    extra = {} if module is None else {"imported": True}
                    missing = getattr(exc, "name", None)
                    if isinstance(exc, ModuleNotFoundError) and "." in (missing or ""):
                        # A submodule missing from a package that is there (a private
                        # module of a library that moved it): the host says so.
                        top = missing.split(".")[0]
                        try:
                            there = top in sys.modules or importlib.util.find_spec(top) is not None
                        except Exception:
                            there = False
                        extra["has_library"] = there
                    error = self.error(exc, stage="load", **extra)
        finally:
            if collecting:
                gc.enable()
            gc.freeze()
        self.load_output = capture.data
        description = self.describe()
        description["load_error"] = error
        return description

    def _import(self):
        spec = self.spec
        LoadError = self.seam.LoadError
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
        """Ask each backend, in order, for the repositories of ``module``."""
        LoadError = self.seam.LoadError
        attribute = self.spec.get("attribute")
        where = self._target_text()
        if attribute:
            if not hasattr(module, attribute):
                names = [n for n in vars(module) if not n.startswith("_")]
                raise LoadError(
                    "{} has no attribute {!r}{} Top-level names: {}".format(
                        where,
                        attribute,
                        self.protocol.did_you_mean(attribute, names) or ".",
                        ", ".join(sorted(names)) or "none",
                    )
                )
            found = getattr(module, attribute)
            for backend in self.backends:
                repositories = backend.repositories_for(found)
                if repositories is not None:
                    return self._index(backend, repositories)
            targets = [backend.attribute_targets for backend in self.backends]
            raise LoadError(
                f"attribute {attribute!r} of {where} is an object of type "
                f"{type(found).__name__}, not a repository or a job; point `attribute` at "
                + targets[0]
                + "".join(f" (or {target})" for target in targets[1:])
            )
        if self.spec["kind"] == "autoload_defs_module":
            for backend in self.backends:
                repositories = backend.autoload(module, where)
                if repositories is not None:
                    return self._index(backend, repositories)
            raise LoadError(
                f"{where}: an autoload_defs_module location is loaded with Dagster's "
                "load_defs, and no backend in this interpreter can load one"
            )
        repositories = {}
        jobs = []  # (backend, job)
        for backend in self.backends:
            found_repositories, found_jobs = backend.scan(module, where)
            for name, pair in self._index(backend, found_repositories).items():
                repositories.setdefault(name, pair)
            jobs.extend((backend, job) for job in found_jobs)
        if repositories:
            return repositories
        if len(jobs) == 1:
            backend, job = jobs[0]
            return self._index(backend, [backend.job_repository(job)])
        if jobs:
            raise LoadError(
                "{} defines {} jobs ({}) and no repository; declare a @repository that "
                "returns them, or set `attribute` to one job".format(
                    where, len(jobs), ", ".join(sorted(job.name for _, job in jobs))
                )
            )
        raise LoadError(self._nothing_found(module, where))

    @staticmethod
    def _nothing_found(module, where):
        """Why a module without definitions loads nothing, in the words of the library the
        interpreter has: Dagster's, when it is installed (the module did not import it at
        its top level), else this package's definitions API."""
        package = getattr(module, "__path__", None) is not None
        hint = ""
        if package:
            # A package whose definitions live in a submodule, as create-dagster makes it.
            for name in ("definitions", "defs"):
                try:
                    found = importlib.util.find_spec(module.__name__ + "." + name)
                except Exception:
                    found = None
                if found is not None:
                    hint = f" (is the location's module {module.__name__}.{name}?)"
                    break
        try:
            dagster = importlib.util.find_spec("dagster") is not None
        except Exception:
            dagster = False
        if dagster:
            return (
                f"{where} defines no Definitions object (nor a function decorated with "
                f"@dg.definitions), repository, assets or job at top level{hint}; define them "
                "there, or set `attribute`"
            )
        return (
            f"{where} defines no repository and no job at top level{hint}; declare a @repository "
            "(from pytest_workspace.definitions import repository) or set "
            "`attribute`"
        )

    @staticmethod
    def _index(backend, repositories):
        index = {}
        for repo in repositories:
            index.setdefault(repo.name, (backend, repo))
        return index

    def _target_text(self):
        spec = self.spec
        return "{} {}".format(spec["kind"].replace("_", " ").replace("python ", ""), spec["target"])

    # -- requests ------------------------------------------------------------------------

    def describe(self):
        return {
            "repositories": [
                backend.describe_repository(repo) for backend, repo in self.repositories.values()
            ],
            "stdout": self.load_output["stdout"],
            "stderr": self.load_output["stderr"],
            "warnings": self.load_output["warnings"],
            "load_error": None,
        }

    def repository(self, name):
        """``(backend, repository)`` of the repository ``name``."""
        try:
            return self.repositories[name]
        except KeyError:
            raise self.seam.RequestError(
                "location has no repository {!r}; it has: {}".format(
                    name, ", ".join(self.repositories) or "none"
                )
            ) from None

    def build_job(self, repository, job):
        backend, repo = self.repository(repository)
        _, build, error, _ = self._build(backend, repo, job)
        if error is not None:
            raise error
        return build

    def _build(self, backend, repo, key):
        """``(job, build description, exception, capture)``: build the job ``key``."""
        with CallCapture() as capture:
            try:
                job_def = backend.build_job(repo, key)
                build = backend.describe_job(repo, key, job_def)
            except BaseException as exc:  # the user's, KeyboardInterrupt included
                return None, None, exc, capture
        build.update(capture.data)
        return job_def, build, None, capture

    def execute_job(self, repository, job, run_config=None, options=None, debug_events=True):
        """Build the job and run it: the run's result, with the build's description.

        Without ``debug_events`` the run's own DEBUG events are left out of the reply
        (after they attributed the user's log records to ops)."""
        backend, repo = self.repository(repository)
        started = time.time()
        run = None
        error = None
        logs = LogCapture()
        with logs:
            job_def, build, build_exc, build_capture = self._build(backend, repo, job)
            captured = build_capture.data  # a failed build's output is the run's
            if build_exc is not None:
                error = self.error(build_exc, stage="build")
            else:
                with CallCapture() as capture:
                    try:
                        run = backend.execute_job(repo, job_def, run_config or {}, options or {})
                    except self.definitions.RunConfigError as exc:
                        error = self.error(exc, stage="config")
                    except self.seam.RequestError:
                        raise  # an option the backend refuses: a bad request, not a run
                    except BaseException as exc:  # the user's, KeyboardInterrupt included
                        error = self.error(exc, stage="execute")
                captured = capture.data
        output = {
            "job": job,
            "build": build,
            "success": False,
            "run_id": None,
            "steps": [],
            "logs": logs.records,
            "duration": time.time() - started,
            "error": error,
        }
        output.update(captured)
        if run is None:
            return output
        events = run["events"]
        _attribute_to_ops(logs.records, events)
        if not debug_events:
            events = [e for e in events if e.get("event") is None or e.get("level") != "DEBUG"]
        # What a backend adds to its runs (Dagster: partition_key, assets, observations,
        # asset_checks, skip_reason) travels as it is.
        output.update((key, value) for key, value in run.items() if key not in _RUN_KEYS)
        output.update(
            success=bool(run["success"]),
            run_id=run["run_id"],
            steps=run["steps"],
            error=run["error"],
            # Stable sort: at equal timestamps the run's own events come first.
            logs=sorted(events + logs.records, key=lambda entry: entry["timestamp"]),
        )
        return output

    def evaluate_schedule(self, repository, schedule):
        return self._evaluate("evaluate_schedule", repository, schedule)

    def evaluate_sensor(self, repository, sensor):
        return self._evaluate("evaluate_sensor", repository, sensor)

    def _evaluate(self, method, repository, name):
        backend, repo = self.repository(repository)
        with CallCapture() as capture:
            evaluation = getattr(backend, method)(repo, name)
        evaluation.update(capture.data)
        return evaluation

    def close(self):
        for backend in self.backends:
            try:
                backend.close()
            except Exception:
                pass

    def error(self, exc, stage, **extra):
        """Error data for an exception (see docs/protocol.md), the one producer of it."""
        d = self.definitions
        if isinstance(exc, self.seam.ReportedError):
            data = dict(exc.data, **extra)
            data["stage"] = exc.stage or stage
            return data
        if isinstance(exc, d.RunConfigError):
            kind = "config"
            missing = list(getattr(exc, "missing", []))
            problems = list(getattr(exc, "problems", []))
            extra["missing"] = [
                pair if isinstance(pair, str) else "{}.{}".format(*tuple(pair)) for pair in missing
            ]
            extra["problems"] = [str(problem) for problem in problems]
            extra["job_name"] = getattr(exc, "job_name", None)
            # Only keys missing (nothing wrong): the plugin skips such a job, not fails it.
            only_missing = getattr(exc, "only_missing", None)
            if only_missing is None:
                only_missing = bool(missing) and len(problems) <= len(missing)
            extra["only_missing"] = bool(only_missing)
        elif isinstance(exc, d.DefinitionError):
            kind = "definition"
        elif isinstance(exc, self.seam.LoadError):
            kind = "load"
        elif isinstance(exc, self.seam.RequestError):
            kind = "request"
        else:
            kind = "user"
        summary = getattr(exc, "summary", None)
        if isinstance(summary, str) and summary:
            extra["summary"] = summary  # the one-line reason, when the message's is not
        return self.protocol.error_data(
            exc, kind=kind, hidden_files=self.hidden, stage=stage, **extra
        )


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


def _protocol_error(message, stage="init", type_name="ProtocolError"):
    """An error reply of the worker itself; it may come before ``protocol`` is installed,
    so it cannot use ``protocol.error_dict``."""
    return {
        "ok": False,
        "error": {
            "type": type_name,
            "kind": "protocol",
            "message": message,
            "traceback": "",
            "stage": stage,
        },
    }


def send(channel, reply, request_id):
    """Send the reply to request ``request_id``, from the worker process only.

    A process that user code forked (``os.fork()`` in an op) and that did not exit comes
    back here when the op returns in it: it must not answer the host (the worker
    answers), so it ends at once, without running the worker's clean-up.
    """
    leave_if_forked()
    reply["id"] = request_id
    channel.send(encode(reply))


def encode(reply):
    """A reply as JSON text: the C encoder and decoder of ``json`` cost a tenth of
    execnet's pure-Python serializer on either side (docs/protocol.md). Replies are
    plain data (``protocol.to_plain``); one that JSON cannot hold travels as it is."""
    try:
        return json.dumps(reply, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return reply


def receive(channel):
    """The next request; a forked child (see :func:`send`) never reads the channel."""
    leave_if_forked()
    return channel.receive()


def leave_if_forked():
    """End a process forked by user code as soon as it is back in the worker's code."""
    if os.getpid() != _WORKER_PID:
        os._exit(FORKED_CHILD_STATUS)


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
        return None, _protocol_error(
            f"the modules sent by the host do not run on Python {sys.version.split()[0]}: {exc}",
            type_name=type(exc).__name__,
        )
    hidden.add(_THIS_FILE)
    protocol = sys.modules[_PACKAGE + ".protocol"]
    if protocol.PROTOCOL_VERSION != PROTOCOL_VERSION:
        return None, _protocol_error(
            f"the host sent protocol module version {protocol.PROTOCOL_VERSION!r} to a worker "
            f"of version {PROTOCOL_VERSION!r}"
        )
    backends = [entry for entry in init["modules"] if entry[0].startswith(_BACKEND_PREFIX)]
    location = Location(init.get("location") or {}, hidden, backends)
    return location, {"ok": True, "result": protocol.interpreter_info()}


def serve(channel):
    """Answer the host's requests, one at a time, until it closes the channel."""
    import warnings

    global _WORKER_PID
    _WORKER_PID = os.getpid()
    CallCapture.baseline_filters = tuple(warnings.filters)
    watch_parent()
    enable_faulthandler()
    init = receive(channel)
    location, reply = start(channel, init)
    coverage = None
    if location is not None:
        coverage, reply["result"]["coverage"] = start_coverage(init.get("coverage"))
    send(channel, reply, init.get("id") if isinstance(init, dict) else None)
    if location is None:
        return
    become_subreaper()
    try:
        _answer(channel, location)
    finally:
        if os.getpid() == _WORKER_PID:
            # Coverage is saved before the descendants are ended: ending them may wait,
            # and the host's grace (execnet's, 5 s after it asks the worker to stop) is
            # short; what they ran is not this process's to measure anyway.
            try:
                location.close()
            finally:
                stop_coverage(coverage)
                end_descendants()
    exit_now()


def exit_now():
    """The host closed the channel: exit at once, as the interpreter would, but without
    tearing down every object user code made (10-30 ms for a loaded location, paid on
    every close). ``atexit`` handlers run (the user's and the libraries' clean-up),
    the streams are flushed; threads the user left running end with the process, as
    they would when the host kills a worker that does not exit in time."""
    import atexit

    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            _flush(stream)
        os._exit(0)


# -- coverage (SPEC section 8): measured as the host is, when the host is measured ------


def start_coverage(settings):
    """Start coverage.py as the host's ``init`` asks, before the location's code loads.

    Returns ``(coverage object or None, state)``; ``state`` (None when the host measures
    nothing) goes back in the ``init`` reply: ``{"measured": True, "data_file": ...}`` or
    ``{"measured": False, "reason": ...}``, which the host's header shows.
    """
    if not settings:
        return None, None
    try:
        import coverage
    except Exception as exc:
        reason = f"coverage is not importable in {sys.executable} ({type(exc).__name__}: {exc})"
        return None, {"measured": False, "reason": reason}
    cwd = os.getcwd()
    try:
        # Relative paths in the configuration mean what they mean to the host.
        os.chdir(settings["cwd"])
        cov = coverage.Coverage(
            data_file=settings["data_file"],
            data_suffix=True,
            config_file=settings["config_file"],
            source=settings["source"],
            source_pkgs=settings["source_pkgs"],
            include=settings["include"],
            omit=settings["omit"],
            branch=settings["branch"],
        )
        # A location that runs none of the measured code is no news (pytest-cov's choice).
        cov._warn_no_data = False
        cov._warn_unimported_source = False
        cov._warn_preimported_source = False
        cov.start()
        data_file = cov.get_data().data_filename()
    except Exception as exc:
        version = getattr(coverage, "__version__", "?")
        problem = f"{type(exc).__name__}: {exc}"
        reason = f"coverage {version} in {sys.executable} could not start: {problem}"
        return None, {"measured": False, "reason": reason}
    finally:
        os.chdir(cwd)
    return cov, {"measured": True, "data_file": data_file}


def stop_coverage(cov):
    """Stop measuring and write this worker's data file, for the host to combine."""
    if cov is None:
        return
    try:
        cov.stop()
        cov.save()
    except Exception as exc:  # the worker is exiting: say it on stderr, the host shows it
        sys.stderr.write(f"pytest-workspace: coverage data not saved: {exc!r}\n")


def _answer(channel, location):
    commands = sys.modules[_PACKAGE + ".protocol"].COMMANDS
    handlers = {name: getattr(location, name) for name in commands if name != "init"}
    while True:
        try:
            request = receive(channel)
        except EOFError:
            return
        if request is None:
            return
        if not isinstance(request, dict):
            send(
                channel,
                _protocol_error(f"a request must be a dict, got {request!r}", "request"),
                None,
            )
            continue
        args = dict(request)
        command = args.pop("cmd", None)
        request_id = args.pop("id", None)
        handler = handlers.get(command)
        if handler is None:
            reply = _protocol_error(
                "unknown command {!r}; this worker knows: {}".format(command, ", ".join(handlers)),
                "request",
            )
        else:
            reply = run_call(location, command, handler, args)
        send(channel, reply, request_id)


def run_call(location, command, handler, args):
    """Run one request's handler and make its reply; the process is put back after it.

    Any exception of the call is an error reply, ``KeyboardInterrupt`` and other
    ``BaseException``s of user code included: they are the user's, not the worker's.
    """
    state = ProcessState(command)
    try:
        return {"ok": True, "result": handler(**args)}
    except BaseException as exc:
        return {"ok": False, "error": location.error(exc, stage=command)}
    finally:
        state.restore()


class ProcessState:
    """What one call may leave changed in the worker's process, put back when it ends.

    The standard streams (a job that closes or replaces ``sys.stdout`` must not take the
    next job's output with it), the working directory and ``sys.path``, and processes:
    whatever the call started and left running is ended, also what left the process
    group with ``setsid`` (the worker is a child subreaper, so it is still ours). What
    loading the code sets up (its working directory, its path, processes it starts) is
    the location's own: ``load`` keeps it. See docs/faults.md.
    """

    def __init__(self, command):
        self.keep_setup = command == "load"
        self.streams = (sys.stdin, sys.stdout, sys.stderr)
        self.cwd = _getcwd()
        self.path = list(sys.path)
        self.reaper = sys.modules.get(_PACKAGE + "._reaper")
        self.processes = set(self.reaper.descendants(os.getpid())) if self.reaper else set()

    def restore(self):
        leave_if_forked()  # a child that user code forked puts nothing back: it ends
        sys.stdin, sys.stdout, sys.stderr = (
            _usable_stream(stream, fd, mode)
            for stream, fd, mode in zip(self.streams, (0, 1, 2), ("r", "w", "w"))
        )
        if self.keep_setup:
            return
        if self.cwd is not None and _getcwd() != self.cwd:
            try:
                os.chdir(self.cwd)
            except OSError:
                pass
        if sys.path != self.path:
            sys.path[:] = self.path
        if self.reaper is not None:
            pid = os.getpid()
            self.reaper.kill_descendants(pid, spare=self.processes)
            self.reaper.reap([p for p in self.reaper.descendants(pid) if p not in self.processes])


def _getcwd():
    try:
        return os.getcwd()
    except OSError:  # deleted under us
        return None


def _usable_stream(stream, fd, mode):
    """``stream`` unless user code closed it; then a new one on the same descriptor."""
    if not getattr(stream, "closed", False):
        return stream
    try:
        return os.fdopen(fd, mode, 1, closefd=False)
    except (OSError, ValueError):
        return stream


def become_subreaper():
    """Orphaned descendants (a daemon's double fork) become our children, not init's."""
    reaper = sys.modules.get(_PACKAGE + "._reaper")
    if reaper is not None:
        reaper.prctl(reaper.PR_SET_CHILD_SUBREAPER, 1)


def end_descendants():
    """When the worker stops: no process it started outlives it (docs/faults.md)."""
    reaper = sys.modules.get(_PACKAGE + "._reaper")
    if reaper is not None:
        reaper.kill_descendants(os.getpid())


if __name__ == "__channelexec__":
    serve(channel)  # type: ignore[name-defined]  # noqa: F821
