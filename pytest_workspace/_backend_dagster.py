"""The Dagster backend: real Dagster code locations (see ``_backend.py`` for the seam).

Runs inside a code location's interpreter, shipped like ``definitions`` and ``protocol``.
It imports only the standard library at import time and never imports ``dagster``
itself: it uses the ``dagster`` module that the user's code already imported (found in
``sys.modules``), so a location that does not use Dagster never pays for it, and
Dagster is never a requirement.

:class:`DagsterBackend` owns Dagster's discovery rules (those of Dagster's own loader:
``@dg.definitions``, ``Definitions``, ``@repository``, a single job or graph, loose
assets, checks, jobs, schedules and sensors), building, execution (partitions, asset
checks, resource overrides, one ephemeral instance per worker) and evaluation (a
daemon-like context, run requests checked as the daemon checks them), and turns
Dagster's results and errors into the protocol's plain data. The wrappers below give
Dagster's ``RepositoryDefinition``, ``JobDefinition``, schedules and sensors the
attributes of ``pytest_workspace.definitions``' objects, so that the backend's shared
helpers describe both alike. Listing names uses ``RepositoryDefinition.job_names``,
which builds no lazily declared job.
"""

from __future__ import annotations

import copy
import gc
import importlib
import inspect
import os
import re
import sys
import threading
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from . import _backend, definitions
from . import protocol as _protocol

#: Dagster's name for the repository of a ``Definitions`` object
#: (``SINGLETON_REPOSITORY_NAME``); a bare job's repository adds the job's name.
SINGLETON_REPOSITORY_NAME = "__repository__"
#: Dagster's implicit asset jobs (``__ASSET_JOB`` …): only the global one is listed, and
#: only when it materializes some asset (see ``DagsterRepository.job_names``).
_IMPLICIT_JOB_PREFIX = "__ASSET_JOB"
#: Dagster's ``IMPLICIT_ASSET_JOB_NAME``: the job that materializes every asset.
IMPLICIT_ASSET_JOB_NAME = "__ASSET_JOB"
_MISSING_REASONS = ("MISSING_REQUIRED_FIELD", "MISSING_REQUIRED_FIELDS")
# Config types that an empty mapping can stand for while we look for missing leaves.
_SHAPE_TYPE_PREFIXES = ("Shape.", "Permissive.")
_FRAME_FILE = re.compile(r'\s*File "([^"]+)"')
# Dagster wraps the user's exception in one of these; the user's is their cause.
_WRAPPER_PREFIXES = ("DagsterExecution", "DagsterUserCodeExecutionError")
#: Dagster's wrapper of an exception raised while a resource initializes.
_RESOURCE_ERROR = "DagsterResourceFunctionError"
#: The options of ``JobHandle.execute`` this backend takes (see ``execute_job``).
EXECUTE_OPTIONS = ("resources", "partition_key")
#: The type name of what ``@dg.definitions`` returns (``LazyDefinitions``, whose module
#: moved between Dagster releases).
_LAZY_DEFINITIONS = "LazyDefinitions"
#: Dagster's class of declarative automation sensors (``default_automation_condition_sensor``).
_AUTOMATION_SENSOR = "AutomationConditionSensorDefinition"


def loaded_dagster() -> Any:
    """The ``dagster`` module if the user's code imported it, else None."""
    return sys.modules.get("dagster")


def kind_of(value: object) -> Optional[str]:
    """What a Dagster object is to the loader, else None: ``"lazy"`` (a
    ``@dg.definitions`` function), ``"definitions"``, ``"repository"``, ``"job"``,
    ``"graph"``, or ``"loose"`` (an asset, asset spec, asset check, source asset, asset
    job, schedule or sensor, which Dagster gathers into a ``Definitions``)."""
    dagster = loaded_dagster()
    if dagster is None:
        return None
    if _is_lazy_definitions(value):
        return "lazy"
    if isinstance(value, dagster.Definitions):
        return "definitions"
    if isinstance(value, dagster.RepositoryDefinition):
        return "repository"
    if isinstance(value, dagster.JobDefinition):
        return "job"
    if isinstance(value, dagster.GraphDefinition):
        return "graph"
    if _definitions_argument(value) is not None:
        return "loose"
    return None


def _loose_list(value: object) -> bool:
    """A list of assets (and other loose definitions), which Dagster's loader takes item
    by item (``find_objects_in_module_of_types``). Dagster's records are tuples: only a
    real list counts."""
    return type(value) is list and bool(value) and all(kind_of(item) == "loose" for item in value)


def _is_lazy_definitions(value: object) -> bool:
    return any(
        cls.__name__ == _LAZY_DEFINITIONS and cls.__module__.startswith("dagster")
        for cls in type(value).__mro__
    )


def _definitions_argument(value: object) -> Optional[str]:
    """The ``Definitions`` argument a loose definition goes to (``assets``, ``jobs``…)."""
    dagster = loaded_dagster()
    names = type(value).__name__, *(cls.__name__ for cls in type(value).__mro__[1:])
    if isinstance(value, getattr(dagster, "AssetChecksDefinition", ())):
        return "asset_checks"
    if isinstance(value, (dagster.AssetsDefinition, dagster.SourceAsset, dagster.AssetSpec)):
        return "assets"
    if "CacheableAssetsDefinition" in names:
        return "assets"
    if "UnresolvedAssetJobDefinition" in names:
        return "jobs"
    if isinstance(value, dagster.ScheduleDefinition) or (
        "UnresolvedPartitionedAssetScheduleDefinition" in names
    ):
        return "schedules"
    if isinstance(value, dagster.SensorDefinition):
        return "sensors"
    return None


def _quiet(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call one of Dagster's loaders without its preview and deprecation warnings: they
    are about Dagster's API, not about the user's code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def repository_for(value: object) -> DagsterRepository:
    """Wrap what Dagster's loader accepts as a repository, named as Dagster names it
    (``__repository__`` for ``Definitions``, ``__repository__<job>`` for a job or a
    graph), resolving ``@dg.definitions`` functions as Dagster does: by calling them."""
    dagster = loaded_dagster()
    kind = kind_of(value)
    if kind == "lazy":
        _initialization_context()
        value = value()  # type: ignore[operator]  # Dagster checks what it returns
        kind = kind_of(value)
    if kind == "repository":
        return DagsterRepository(value)
    if kind == "definitions":
        return DagsterRepository(value.get_repository_def())  # type: ignore[attr-defined]
    if kind in ("job", "graph"):
        target: Any = value
        repo = dagster.repository(name=SINGLETON_REPOSITORY_NAME + target.name)(lambda: [target])
        return DagsterRepository(repo)
    if kind == "loose":
        return loose_repository([value])
    raise TypeError(f"not a Dagster repository, Definitions or job: {value!r}")


def _initialization_context() -> None:
    """Set the load context Dagster's code server sets before it loads a location: one
    ``DefinitionsLoadContext`` of type INITIALIZATION for the whole load, which
    ``@dg.definitions`` functions and components read. Without it each read makes a new
    one, and a state-backed component (``StateBackedComponent`` with the code server's
    snapshots, as Tableau's or Fivetran's) does not find the state it has just fetched
    (*KeyError: 'defs-state-[...]'*). Once per worker; nothing where Dagster has none."""
    module = sys.modules.get("dagster._core.definitions.definitions_load_context")
    if module is None:
        try:
            module = importlib.import_module("dagster._core.definitions.definitions_load_context")
        except ImportError:
            return
    context = getattr(module, "DefinitionsLoadContext", None)
    load_type = getattr(module, "DefinitionsLoadType", None)
    if context is None or load_type is None or context.is_set():
        return
    try:
        context.set(context(load_type=load_type.INITIALIZATION))
    except Exception:  # another Dagster's constructor: it keeps its own default
        return


def loose_repository(values: Iterable[Any]) -> DagsterRepository:
    """The repository of loose definitions, gathered into one ``Definitions`` as
    ``load_definitions_from_module`` gathers a module's (``__repository__``)."""
    dagster = loaded_dagster()
    arguments: Dict[str, List[Any]] = {}
    for value in values:
        argument = _definitions_argument(value)
        if argument is None and isinstance(value, dagster.JobDefinition):
            argument = "jobs"
        bucket = arguments.setdefault(argument or "assets", [])
        if all(value is not other for other in bucket):
            bucket.append(value)
    defs = _quiet(dagster.Definitions, **arguments)
    return DagsterRepository(defs.get_repository_def())


def _without_shadowed_specs(values: List[Any]) -> Optional[List[Any]]:
    """``values`` without the ``AssetSpec`` objects whose key an asset of ``values`` defines
    (``spec = AssetSpec("orders")`` next to ``@multi_asset(specs=[spec])``), or None when
    there is none. ``load_definitions_from_module`` counts such a spec as a second
    definition of the key and refuses the module; Dagster's loader of a ``python_file``
    or ``python_module`` location (``load_assets_from_modules``) does not load specs at
    all, and takes the module."""
    dagster = loaded_dagster()
    defined = set()
    for value in values:
        if isinstance(value, dagster.AssetsDefinition):
            defined.update(value.keys)
        elif isinstance(value, dagster.SourceAsset):
            defined.add(value.key)
    spec_type = getattr(dagster, "AssetSpec", None)
    shadowed = [
        value
        for value in values
        if spec_type is not None and isinstance(value, spec_type) and value.key in defined
    ]
    if not shadowed:
        return None
    return [value for value in values if all(value is not spec for spec in shadowed)]


def _uses_dagster(module: Any) -> bool:
    """Whether a module's top level holds Dagster itself or anything of Dagster's."""
    dagster = loaded_dagster()
    for value in list(vars(module).values()):
        if value is dagster:
            return True
        try:
            origin = getattr(value, "__module__", None) or type(value).__module__
        except Exception:  # an object whose attributes raise: not Dagster's
            continue
        if isinstance(origin, str) and origin.split(".")[0] in ("dagster", "dagster_shared"):
            return True
    return False


def _has_native_definitions(module: Any) -> bool:
    return any(
        isinstance(value, (definitions.RepositoryDefinition, definitions.JobDefinition))
        for value in list(vars(module).values())
    )


class DagsterBackend(_backend.Backend):
    """Dagster code, found as Dagster's loader finds it, run as the daemon would run it.

    Per worker: one ephemeral ``DagsterInstance`` (in memory, with a temporary folder;
    nothing goes to ``DAGSTER_HOME``), made on first use and disposed by :meth:`close`.
    """

    name = "dagster"
    attribute_targets = (
        "a Dagster Definitions object, a @dg.definitions function, a repository, a job or a graph"
    )

    def __init__(self, worker: Any) -> None:
        super().__init__(worker)
        self._instance: Any = None

    # -- discovery ------------------------------------------------------------------------

    def repositories_for(self, value: object) -> Optional[List[Any]]:
        dagster = loaded_dagster()
        if dagster is None:
            return None
        if kind_of(value) is None and inspect.isfunction(value):
            # As Dagster's loader: an attribute naming a function is called, with no
            # arguments, and must return something loadable.
            function: Any = value
            if _required_parameters(function):
                raise _backend.LoadError(
                    f"Dagster calls the function {function.__name__!r} named by `attribute` "
                    "with no arguments, but it requires some: point `attribute` at a "
                    "Definitions object, or at a function that takes no arguments"
                )
            value = function()
            if kind_of(value) is None:
                raise _backend.LoadError(
                    f"the function {function.__name__!r} named by `attribute` returned "
                    f"{value!r}; Dagster's loader needs a Definitions object, a "
                    "repository, a job or a graph"
                )
        if kind_of(value) is not None:
            return [repository_for(value)]
        if isinstance(value, list) and _loose_list(value):
            return [loose_repository(value)]
        return None

    def autoload(self, module: Any, where: str) -> Optional[List[Any]]:
        """As Dagster loads an ``autoload_defs_module``: ``dagster.components.load_defs``
        over the whole module tree (the module itself need not import dagster)."""
        try:
            components: Any = importlib.import_module("dagster.components")
        except ImportError as exc:
            raise _backend.LoadError(
                f"{where}: an autoload_defs_module is loaded with Dagster's "
                f"dagster.components.load_defs, which this interpreter ({sys.executable}) "
                f"cannot import ({exc}); install dagster 1.11 or newer there"
            ) from None
        _initialization_context()
        return [repository_for(components.load_defs(module))]

    def scan(self, module: Any, where: str) -> Tuple[List[Any], List[Any]]:
        """Dagster's order: one ``@dg.definitions`` function, else one ``Definitions``,
        else its repositories, else the loose definitions gathered, else one job, else
        one graph. Dagster's own errors (two ``Definitions``, several jobs, nothing at
        all) are raised in Dagster's words."""
        dagster = loaded_dagster()
        if dagster is None:
            return [], []
        found: Dict[str, List[Tuple[str, Any]]] = {}
        for name, value in list(vars(module).items()):
            kind = kind_of(value)
            if kind is None and _loose_list(value):
                kind = "loose"  # a list of assets: Dagster's loader takes its items
            if kind is None or name.startswith("__"):
                continue
            bucket = found.setdefault(kind, [])
            if all(other is not value for _, other in bucket):
                bucket.append((name, value))
        module_name = module.__name__
        lazy = found.get("lazy", [])
        if len(lazy) > 1:
            raise _backend.LoadError(
                f"{where}: Cannot have more than one function decorated with "
                f"@definitions defined in module scope (found: "
                f"{', '.join(name for name, _ in lazy)}); keep one, or set `attribute`"
            )
        if lazy:
            return [repository_for(lazy[0][1])], []
        defs = found.get("definitions", [])
        if len(defs) > 1:
            raise _backend.LoadError(
                f"{where}: Cannot have more than one Definitions object defined at module "
                "scope. Found Definitions objects: "
                + ", ".join(f"{module_name}.{name}" for name, _ in defs)
                + "; as Dagster's loader, pytest-workspace loads one: set `attribute` to "
                f"the one to load (attribute: {defs[-1][0]}), or keep only one at module "
                "scope (build the parts Definitions.merge combines inside a function)"
            )
        if defs:
            return [repository_for(defs[0][1])], []
        if found.get("repository"):
            return [repository_for(value) for _, value in found["repository"]], []
        jobs = [value for _, value in found.get("job", [])]
        if found.get("loose"):
            # As dg's defs folders and load_definitions_from_module gather a module:
            # assets, checks, jobs, schedules and sensors into one Definitions.
            loader = getattr(dagster, "load_definitions_from_module", None)
            loose = [
                item
                for _, value in found["loose"]
                for item in (value if type(value) is list else [value])
            ] + jobs
            if loader is None:
                return [loose_repository(loose)], []
            try:
                return [DagsterRepository(_quiet(loader, module).get_repository_def())], []
            except dagster.DagsterInvalidDefinitionError:
                kept = _without_shadowed_specs(loose)
                if kept is None:
                    raise
                return [loose_repository(kept)], []
        if len(jobs) > 1 and not _has_native_definitions(module):
            raise _backend.LoadError(
                f'{where}: No repository and more than one job found in "{module_name}". '
                "If you load a file or module directly it must have only one job in "
                "scope. Found jobs defined in variables or decorated functions: "
                f"{sorted(name for name, _ in found['job'])!r}. Gather them in a Definitions "
                "object, or set `attribute` to one"
            )
        if jobs:
            return [], jobs
        graphs = found.get("graph", [])
        if len(graphs) > 1 and not _has_native_definitions(module):
            raise _backend.LoadError(
                f'{where}: More than one graph found in "{module_name}". If you load a '
                "file or module directly and it has no repositories, jobs, or pipelines "
                "in scope, it must have no more than one graph in scope. Found graphs "
                "defined in variables or decorated functions: "
                f"{sorted(name for name, _ in graphs)!r}. Set `attribute` to one"
            )
        if graphs:
            return [], [graphs[0][1]]
        if _uses_dagster(module) and not _has_native_definitions(module):
            raise _backend.LoadError(
                f"{where}: No Definitions, RepositoryDefinition, Job, Pipeline, Graph, or "
                f'AssetsDefinition found in "{module_name}". Define a Definitions object '
                "(or a function decorated with @dg.definitions), assets or a job at the "
                "top level of the module, or set `attribute`"
            )
        return [], []

    def job_repository(self, job: Any) -> Any:
        return repository_for(job)

    # -- requests -------------------------------------------------------------------------

    @property
    def instance(self) -> Any:
        """This worker's ephemeral Dagster instance, made on first use, once the
        modules it needs are imported (see :func:`preload_instance_modules`)."""
        if self._instance is None:
            if _preloading is not None:
                _preloading.join()
            gc.freeze()
            self._instance = ephemeral_instance(loaded_dagster())
        return self._instance

    def execute_job(
        self, repo: Any, job: Any, run_config: Mapping[str, Any], options: Mapping[str, Any]
    ) -> Dict[str, Any]:
        """Run a job once on this worker's instance. Options: ``resources``
        (``{key: "module:attribute"}``, resolved here) and ``partition_key`` (default:
        the last key of a partitioned job's partitions definition)."""
        _backend.refuse_options(self, options, EXECUTE_OPTIONS)
        resources = resolve_resources(job.dagster_job, options.get("resources") or {})
        groups = _partitions_groups(repo, job)
        left_out = LeftOut.of(repo, job)
        try:
            if groups is not None:
                requested = options.get("partition_key")
                result = self._execute_groups(
                    repo, job, groups, run_config, resources, requested, left_out
                )
                partition_key = None if requested is None else str(requested)
            else:
                partition_key = job.partition_to_run(options.get("partition_key"), self.instance)
                ran = self._execute_leaving_out(
                    repo, job, job, None, run_config, resources, partition_key, left_out
                )
                if ran is None:  # every asset needs config it was not given: skipped
                    error = left_out.first_error if left_out is not None else None
                    raise error or RuntimeError(f"job {job.name!r} left out every asset")
                result = ran
        except PartitionsUnavailable as exc:
            # Not a failure: there is nothing to run yet. The host skips the job.
            return {
                "success": False,
                "run_id": None,
                "steps": [],
                "events": [],
                "error": None,
                "skip_reason": str(exc),
            }
        finally:
            # What the default IO manager stored goes with the run, as it went with the
            # instance of a run of its own: no item reads values another one stored.
            _empty_folder(self.instance.storage_directory())
        if left_out is not None:
            left_out.add_to(result, job)
            if left_out.unset_error is not None and result.success:
                # What could run, ran; the job as written cannot: it fails for that.
                result.success = False
                result.error = _protocol.error_dict(
                    "DagsterInvalidConfigError",
                    str(left_out.unset_error),
                    kind="user",
                    stage="execute",
                )
        data = _backend.run_data(result, lambda step: step.error, run_error=result.error)
        data.update(
            partition_key=partition_key,
            assets=_protocol.to_plain(result.materializations),
            observations=_protocol.to_plain(result.observations),
            asset_checks=_protocol.to_plain(result.asset_checks),
            left_out=_protocol.to_plain(left_out.entries if left_out is not None else []),
        )
        return data

    def _execute_leaving_out(
        self,
        repo: DagsterRepository,
        job: DagsterJob,
        run: DagsterJob,
        selection: Optional[Tuple[List[Any], Set[Any]]],
        run_config: Mapping[str, Any],
        resources: Mapping[str, Any],
        partition_key: Optional[str],
        left_out: Optional[LeftOut],
    ) -> Optional[DagsterRunResult]:
        """Run ``run``: ``job`` itself, or its subset to ``selection`` (asset keys, check
        keys: a group of :meth:`_execute_groups`). When ``job`` is ``__ASSET_JOB``
        (``left_out``) and the run config lacks keys, run it again without the assets
        needing them and what is downstream of them (see :class:`LeftOut`). None when
        no asset is left to run."""
        while True:
            if left_out is not None and left_out.affects(selection):
                keys, checks = left_out.selection(*(selection or left_out.everything()))
                if not keys:
                    return None
                run = DagsterJob(
                    repo.dagster_repository.get_maybe_subset_job_def(
                        job.name, asset_selection=set(keys), asset_check_selection=checks
                    )
                )
            config: Mapping[str, Any] = run_config
            run_resources = resources
            if run is not job:
                # Dagster refuses config and resources for what the subset does not have.
                config = _config_for_ops(run_config, run.op_names)
                known = set(getattr(run.dagster_job, "resource_defs", {}) or {})
                run_resources = {k: v for k, v in resources.items() if k in known}
            try:
                return run.execute_in_process(
                    run_config=dict(config) or None,
                    instance=self.instance,
                    resources=run_resources,
                    partition_key=partition_key,
                )
            except definitions.RunConfigError as exc:
                if left_out is None or not left_out.leave_out(exc):
                    raise

    def _execute_groups(
        self,
        repo: DagsterRepository,
        job: DagsterJob,
        groups: List[Tuple[List[Any], Set[Any]]],
        run_config: Mapping[str, Any],
        resources: Mapping[str, Any],
        requested: Optional[str] = None,
        left_out: Optional[LeftOut] = None,
    ) -> DagsterRunResult:
        """``__ASSET_JOB`` over assets of several partitions definitions, as "Materialize
        all" launches it: one run per partitions definition (the unpartitioned assets
        being one), each the job subset to those assets and their checks, at the last key
        of its definition; in the order of the asset graph, so that a later run loads
        what an earlier one stored. A definition with no key yet (dynamic partitions)
        does not run, and says so in the item's log; when none can run, the item skips.

        A ``requested`` key (``pytest_workspace_partition_keys``) runs the unpartitioned
        assets and those whose definition has that key (a dynamic one: when the instance
        has it); none having it is Dagster's unknown partition, refused."""
        repo_def = repo.dagster_repository
        results: List[DagsterRunResult] = []
        not_run: List[str] = []
        runs: List[Tuple[DagsterJob, Tuple[List[Any], Set[Any]], Optional[str]]] = []
        for keys, checks in groups:
            subset = DagsterJob(
                repo_def.get_maybe_subset_job_def(
                    job.name, asset_selection=set(keys), asset_check_selection=checks
                )
            )
            names = ", ".join(asset.to_user_string() for asset in keys)
            partitions_def = subset.dagster_job.partitions_def
            if requested is not None and partitions_def is not None:
                if not _has_key(partitions_def, str(requested), self.instance):
                    not_run.append(f"assets {names} did not run: no partition {requested!r}")
                    continue
                runs.append((subset, (keys, checks), str(requested)))
                continue
            try:
                key = subset.partition_to_run(None, self.instance)
            except PartitionsUnavailable as exc:
                not_run.append(f"assets {names} did not run: {str(exc).split(': ', 1)[-1]}")
                continue
            runs.append((subset, (keys, checks), key))
        if requested is not None and all(key is None for _, _, key in runs):
            raise _backend.RequestError(
                f"job {job.name!r} has no partition {requested!r}: none of its assets' "
                "partitions definitions has it; pytest_workspace_partition_keys must return "
                "keys of some asset's partitions definition"
            )
        for subset, selection, key in runs:
            ran = self._execute_leaving_out(
                repo, job, subset, selection, run_config, resources, key, left_out
            )
            if ran is not None:
                results.append(ran)
        if not results:
            if left_out is not None and left_out.first_error is not None:
                raise left_out.first_error  # every asset that could run needs config
            raise PartitionsUnavailable(
                f"job {job.name!r} has no partition to run: " + "; ".join(not_run)
            )
        return DagsterRunResult.combined(results, job.op_names, not_run)

    def evaluate_schedule(self, repo: Any, name: str) -> Dict[str, Any]:
        # Dagster validated the cron string when the schedule was defined (it accepts
        # forms ours does not, such as a list of strings): no check_schedule.
        schedule_def = repo.get_schedule(name)
        _backend.check_target(repo, "schedule", schedule_def)
        _check_targets_build(repo, schedule_def, schedule_def.dagster_schedule)
        evaluation = {
            "name": schedule_def.name,
            "cron_schedule": schedule_def.cron_schedule,
            "job_name": schedule_def.job_name,
        }
        evaluation.update(schedule_def.evaluate(repo, self.instance))
        return evaluation

    def evaluate_sensor(self, repo: Any, name: str) -> Dict[str, Any]:
        sensor_def = repo.get_sensor(name)
        _backend.check_target(repo, "sensor", sensor_def)
        _check_targets_build(repo, sensor_def, sensor_def.dagster_sensor)
        evaluation = {"name": sensor_def.name, "job_name": sensor_def.job_name}
        evaluation.update(sensor_def.evaluate(repo, self.instance))
        return evaluation

    def close(self) -> None:
        if self._instance is not None:
            instance, self._instance = self._instance, None
            instance.dispose()


BACKEND = DagsterBackend

#: What ``DagsterInstance.ephemeral()`` imports (Dagster 1.11-1.13): SQLAlchemy, Alembic,
#: Dagster's storages and daemon, ~0.4 s of the ~0.5 s it takes on its first call.
_INSTANCE_MODULES = (
    "dagster._core.storage.event_log",
    "dagster._core.storage.runs",
    "dagster._core.storage.root",
    "dagster._core.storage.noop_compute_log_manager",
    "dagster._core.run_coordinator",
    "dagster._core.launcher.sync_in_memory_run_launcher",
)
_preloading: Optional[threading.Thread] = None


#: The modules of Dagster's in-memory storages, which stamp the schema they make with
#: Alembic's head revision (``stamp_alembic_rev``, imported into each by name).
_STAMPING_MODULES = (
    "dagster._core.storage.runs.in_memory",
    "dagster._core.storage.event_log.in_memory",
)
_STAMP = "stamp_alembic_rev"


def ephemeral_instance(dagster: Any) -> Any:
    """``DagsterInstance.ephemeral()``, without stamping its in-memory storages' schema.

    To stamp, Alembic reads every migration script of Dagster's (89 in 1.13), once per
    storage: 45 ms of the first run, a third of the instance. An in-memory storage never
    reads its stamp (its ``alembic_version()`` is the base class's None, its
    ``upgrade()`` does nothing), so the worker's instance is made without: the tables
    are Dagster's, only Alembic's bookkeeping table is missing. The stamping function
    is Dagster's again as soon as the instance is made (one the user's code makes is
    stamped as usual); a Dagster without these modules makes its instance as it does.
    """
    patched = []
    for name in _STAMPING_MODULES:
        try:
            module = importlib.import_module(name)  # imported by the preload, as a rule
        except ImportError:
            continue
        if callable(getattr(module, _STAMP, None)):
            patched.append((module, getattr(module, _STAMP)))
            setattr(module, _STAMP, _no_stamp)
    try:
        return dagster.DagsterInstance.ephemeral()
    finally:
        for module, stamp in patched:
            setattr(module, _STAMP, stamp)


def _no_stamp(*args: Any, **kwargs: Any) -> None:
    return None


def preload_instance_modules() -> None:
    """Import what the instance needs in a thread of its own, once, as soon as a
    location's Dagster code is loaded.

    The worker then waits for the host's requests (while the host collects, and while
    it runs other locations' items: a session runs one item at a time), and the
    imports take that time instead of the first run's. The instance itself is made on
    first use, in the thread that uses it (its SQLite connections are bound to their
    thread). Before the imports, what the process holds (Dagster, the user's code)
    moves to the collector's permanent generation (``gc.freeze``): the imports'
    allocations start full collections that would otherwise walk every object of
    Dagster's import, for nothing (0.17-0.24 s of collector time, 0.05-0.10 s frozen);
    during the imports the collector is off (see :func:`_import_instance_modules` and
    docs/dagster.md).
    """
    global _preloading
    if _preloading is not None or loaded_dagster() is None:
        return
    gc.freeze()
    _preloading = threading.Thread(
        target=_import_instance_modules, name="pytest-workspace-dagster-preload", daemon=True
    )
    _preloading.start()


def _import_instance_modules() -> None:
    """The imports, without the collector: what they make lives as long as the worker,
    and the full collections their allocations start find nothing to free (0.05-0.08 s
    of the 0.4-0.7 s they take, with what was there before frozen). The collector is
    back on, and what the imports made frozen, when they are done (unless it was off
    when they began: the location's own import, or user code, turned it off)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        for name in _INSTANCE_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # another Dagster's layout: the instance imports what it needs
                pass
    finally:
        if collecting:
            gc.enable()
        gc.freeze()


def _empty_folder(path: str) -> None:
    import shutil  # only Dagster locations run jobs here; Dagster imported it already

    try:
        entries = os.listdir(path)
    except OSError:
        return
    for entry in entries:
        full = os.path.join(path, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except OSError:
                pass


def _required_parameters(function: Any) -> List[str]:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


class ResourceOverrideError(Exception):
    """A resource named by ``pytest_workspace_resources`` cannot be used."""


def resolve_resources(job_def: Any, paths: Mapping[str, Any]) -> Dict[str, Any]:
    """The resources ``{key: "module:attribute"}`` stand for, imported here (on the
    location's ``sys.path``): the attribute is a resource object, or a class or
    function that makes one when called with no arguments."""
    dagster = loaded_dagster()
    known = sorted(getattr(job_def, "resource_defs", {}) or {})
    resources: Dict[str, Any] = {}
    for key, path in paths.items():
        where = f"resource {key!r} of job {job_def.name!r} (pytest_workspace_resources)"
        if key not in known:
            hint = _protocol.did_you_mean(str(key), known) or "."
            raise ResourceOverrideError(
                f"{where}: the job has no resource {key!r}{hint} Its resources: "
                f"{', '.join(known) or 'none'}"
            )
        if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
            raise ResourceOverrideError(
                f"{where}: {path!r} is not an import path; write it as 'package.module:attribute'"
            )
        module_name, attribute = path.split(":")
        try:
            value: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ResourceOverrideError(
                f"{where}: cannot import module {module_name!r} of {path!r} in this code "
                f"location ({type(exc).__name__}: {exc}); it must be importable from the "
                "location's sys.path (its working directory, its module's folder)"
            ) from None
        for part in attribute.split("."):
            if not hasattr(value, part):
                names = [n for n in dir(value) if not n.startswith("_")]
                hint = _protocol.did_you_mean(part, names)
                raise ResourceOverrideError(
                    f"{where}: {module_name!r} has no attribute {attribute!r} (from {path!r}){hint}"
                )
            value = getattr(value, part)
        if not isinstance(value, dagster.ResourceDefinition) and (
            inspect.isclass(value) or inspect.isfunction(value) or inspect.ismethod(value)
        ):
            if _required_parameters(value):
                raise ResourceOverrideError(
                    f"{where}: {path!r} needs arguments "
                    f"({', '.join(_required_parameters(value))}); name a resource object, "
                    "or a class or function that makes one with no arguments"
                )
            value = value()
        resources[key] = value
    return resources


class DagsterRepository:
    """A Dagster ``RepositoryDefinition`` with the interface of ours."""

    def __init__(self, repo_def: Any) -> None:
        preload_instance_modules()
        self.dagster_repository = repo_def
        self.name: str = repo_def.name
        self.description: Optional[str] = getattr(repo_def, "description", None)
        self.source_location = None
        self._built: List[str] = []
        self._lists_asset_job: Optional[bool] = None
        self._job_names: Optional[List[str]] = None
        self._job_set: frozenset[str] = frozenset()

    @property
    def job_names(self) -> List[str]:
        """Names of the jobs; Dagster's ``job_names`` builds no lazily declared job.

        Dagster's implicit asset job (``__ASSET_JOB``, every asset of the repository) is
        listed when the repository has assets to materialize; other implicit jobs
        (older Dagsters' per-partitions variants, ``__ASSET_JOB_0``…) are not.
        """
        # Computed once: a repository's names do not change, and every item asks.
        if self._job_names is None:
            self._job_names = [
                name
                for name in self.dagster_repository.job_names
                if not name.startswith(_IMPLICIT_JOB_PREFIX)
                or (name == IMPLICIT_ASSET_JOB_NAME and self._materializes_assets())
            ]
            self._job_set = frozenset(self._job_names)
        return self._job_names

    def _materializes_assets(self) -> bool:
        """Whether the repository has assets that its ``__ASSET_JOB`` materializes or
        observes (observable source assets), or asset checks it runs (checks of external
        assets, ``AssetSpec``s loaded by another tool, are all such a location may
        have), without building any job."""
        if self._lists_asset_job is None:
            repo = self.dagster_repository
            try:
                graph = repo.asset_graph
                self._lists_asset_job = bool(
                    repo.has_implicit_global_asset_job_def()
                    and (_executable_keys(graph) or graph.asset_check_keys)
                )
            except Exception:  # another Dagster: keep the implicit job hidden
                self._lists_asset_job = False
        return self._lists_asset_job

    @property
    def schedule_names(self) -> List[str]:
        return [schedule.name for schedule in self.dagster_repository.schedule_defs]

    @property
    def sensor_names(self) -> List[str]:
        return [sensor.name for sensor in self.dagster_repository.sensor_defs]

    @property
    def constructed_job_names(self) -> List[str]:
        """The jobs built so far: those given as job objects, and lazy ones once built."""
        index = getattr(getattr(self.dagster_repository, "_repository_data", None), "_jobs", None)
        sources = getattr(index, "_definitions", None)
        cache = getattr(index, "_definition_cache", None)
        job_class = loaded_dagster().JobDefinition
        if isinstance(sources, dict) and isinstance(cache, dict):
            return [
                name
                for name in self.job_names
                if name in cache or isinstance(sources.get(name), job_class)
            ]
        # Dagster changed its internals: fall back to what we built ourselves.
        return [name for name in self.job_names if name in self._built]

    def has_job(self, name: str) -> bool:
        """Whether the repository declares ``name``, at the cost of a set lookup."""
        return bool(self.job_names) and name in self._job_set

    def get_job(self, name: str) -> DagsterJob:
        """Build the job ``name`` with Dagster (only that one) and wrap it."""
        if not self.has_job(name):
            raise self._unknown("job", name, self.job_names)
        dagster = loaded_dagster()
        check_error = _check_error_class()
        try:
            job_def = self.dagster_repository.get_job(name)
        except Exception as exc:
            if isinstance(exc, dagster.DagsterError) or (
                check_error is not None and isinstance(exc, check_error)
            ):
                # Our error quotes Dagster's message; its frames are all Dagster's own.
                raise self._build_error(name, exc) from None
            raise
        if name not in self._built:
            self._built.append(name)
        return DagsterJob(job_def)

    def _build_error(self, key: str, exc: Exception) -> Exception:
        d = definitions
        text = str(exc)
        mismatch = re.search(r"does not match: got '([^']*)'", text)
        if mismatch:
            built = mismatch.group(1)
            mismatch_error: Exception = d.JobNameMismatchError(
                f"repository {self.name!r} declares a job under the key {key!r}, but the job "
                f"built for it is named {built!r}; rename the key to {built!r}, or pass "
                f"name={key!r} to @job. Dagster says: {text}",
                repository_name=self.name,
                key=key,
                built_name=built,
            )
            return mismatch_error
        invalid_error: Exception = d.InvalidDefinitionError(
            f"Dagster could not build job {key!r} of repository {self.name!r}: "
            f"{type(exc).__name__}: {text}{_causes(exc)}"
        )
        # The one-line reason: what Dagster says is wrong, in the exception it was raised
        # from last (its "Failed to resolve asset job x" says nothing more).
        root = (_chain(exc) or [exc])[-1]
        said = str(root).strip().splitlines()
        summary = f"{type(root).__name__}: {said[0]}" if said else type(root).__name__
        setattr(invalid_error, "summary", summary)  # noqa: B010 (read with getattr)
        return invalid_error

    def get_schedule(self, name: str) -> DagsterSchedule:
        if name not in self.schedule_names:
            raise self._unknown("schedule", name, self.schedule_names)
        return DagsterSchedule(self.dagster_repository.get_schedule_def(name))

    def get_sensor(self, name: str) -> DagsterSensor:
        if name not in self.sensor_names:
            raise self._unknown("sensor", name, self.sensor_names)
        return DagsterSensor(self.dagster_repository.get_sensor_def(name))

    def _unknown(self, kind: str, name: str, known: List[str]) -> Exception:
        hint = _protocol.did_you_mean(name, known)
        error: Exception = definitions.UnknownDefinitionError(
            f"repository {self.name!r} has no {kind} {name!r}{hint or '.'} Known {kind}s: "
            f"{', '.join(known) or 'none'}",
            kind=kind,
            name=name,
            known=known,
            closest=_protocol.closest_name(name, known),
        )
        return error


def _chain(exc: BaseException) -> List[BaseException]:
    """The exceptions ``exc`` was raised from, nearest first (``__cause__``, else an
    unsuppressed ``__context__``), each once."""
    chain: List[BaseException] = []
    seen = {id(exc)}
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        chain.append(cause)
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return chain


def _causes(exc: BaseException) -> str:
    """The messages of the exceptions ``exc`` was raised from, as Dagster prints them
    (*The above exception was caused by the following exception*): Dagster's
    *Failed to resolve asset job orders_job* says what is wrong only in its cause
    (*AssetKey(s) ['orderz'] were selected, but no AssetsDefinition objects supply
    these keys...*)."""
    return "".join(
        f"\ncaused by {type(cause).__name__}: {str(cause).strip()}" for cause in _chain(exc)[:5]
    )


def _check_error_class() -> Any:
    for module_name in ("dagster_shared.check", "dagster._check"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "CheckError"):
            return module.CheckError
    return None


class PartitionsUnavailable(Exception):
    """A partitioned job has no partition to run (dynamic partitions not added yet)."""


class DagsterJob:
    """A Dagster ``JobDefinition`` with the interface of ours.

    Ops are named by their handle: an op inside a graph is ``graph.op``, as Dagster's
    step keys are.
    """

    def __init__(self, job_def: Any) -> None:
        self.dagster_job = job_def
        self.name: str = job_def.name
        self.description: Optional[str] = job_def.description
        self.tags: Dict[str, Any] = dict(job_def.tags or {})
        self.source_location = None
        order, dependencies, _ = _flatten(job_def.graph, "", {})
        self.op_names: List[str] = order
        self.dependencies: Dict[str, List[str]] = dependencies

    def partition_to_run(self, requested: Optional[str], instance: Any) -> Optional[str]:
        """The partition key a run uses: ``requested``, else the last key of the job's
        partitions definition (Dagster's "latest"); None for a job without partitions.

        Raises PartitionsUnavailable when the definition has no key at all, and
        ``RequestError`` for a key given to a job that has no partitions.
        """
        partitions_def = self.dagster_job.partitions_def
        if partitions_def is None:
            if requested is not None:
                raise _backend.RequestError(
                    f"job {self.name!r} has no partitions definition, so it cannot run "
                    f"partition {requested!r}; return no keys for it from "
                    "pytest_workspace_partition_keys"
                )
            return None
        if requested is not None:
            name = getattr(partitions_def, "name", None)
            if "Dynamic" in type(partitions_def).__name__ and name:
                # As a sensor's AddDynamicPartitionsRequest would: the worker's own
                # ephemeral instance gets the key the test asks for.
                if not instance.has_dynamic_partition(name, str(requested)):
                    instance.add_dynamic_partitions(name, [str(requested)])
            return str(requested)
        key = last_partition_key(partitions_def, instance)
        if key is None:
            kind = type(partitions_def).__name__
            name = getattr(partitions_def, "name", None)
            raise PartitionsUnavailable(
                f"job {self.name!r} has no partition to run: its {kind}"
                + (f" {name!r}" if name else "")
                + " has no partitions yet (add some to the instance, or name the keys "
                "to run with the pytest_workspace_partition_keys hook)"
            )
        return key

    def execute_in_process(
        self,
        run_config: Optional[Dict[str, Any]],
        instance: Any,
        resources: Optional[Mapping[str, Any]] = None,
        partition_key: Optional[str] = None,
    ) -> DagsterRunResult:
        """Run the job with Dagster's ``execute_in_process`` on ``instance``.

        Outputs are read in memory (``execute_in_process`` keeps the default IO
        manager's values there); what other IO managers write really is written.
        """
        dagster = loaded_dagster()
        events = RunEvents(instance)
        try:
            result = self.dagster_job.execute_in_process(
                run_config=run_config,
                instance=instance,
                raise_on_error=False,
                resources=dict(resources or {}) or None,
                partition_key=partition_key,
                run_id=events.run_id,
            )
        except dagster.DagsterInvalidConfigError as exc:
            raise _run_config_error(self.dagster_job, run_config, exc) from None
        except dagster.DagsterConfigMappingFunctionError as exc:
            raise _config_mapping_error(self.name, exc) from None
        except dagster.DagsterUnknownPartitionError as exc:
            raise _backend.RequestError(
                f"job {self.name!r} has no partition {partition_key!r} (Dagster says: "
                f"{str(exc).rstrip('.')}); pytest_workspace_partition_keys must return "
                "keys of the job's partitions definition"
            ) from None
        finally:
            entries = events.close()
        return DagsterRunResult(result, instance, self.op_names, entries)


def _config_mapping_error(job_name: str, exc: Exception) -> Exception:
    """What a config mapping function (``@config_mapping``, a graph's ``config=``)
    raised while Dagster resolved the run config, before any op ran: the user's
    exception, with the user's frames, at the run config stage. Dagster's wrapper
    (*DagsterConfigMappingFunctionError: The config mapping function ... has thrown an
    unexpected error*) says only where."""
    cause = exc.__cause__
    error = _user_error(cause, "config") if isinstance(cause, Exception) else None
    if error is None:
        return exc
    said = (error.data.get("message") or "").strip().splitlines()
    error.data["summary"] = (
        f"{error.data.get('type')}{': ' + said[0] if said else ''}, raised by the config "
        f"mapping function of job {job_name!r}"
    )
    error.stage = "config"
    return error


class RunEvents:
    """The event log entries of one run, gathered while it runs.

    Dagster's instance hands each entry of a run to that run's listeners
    (``DagsterInstance.add_event_listener``) right after it stored it: the entries that
    ``instance.all_logs(run_id)`` would read back after the run, in the order they were
    stored, without reading and deserialising every one of them again (4% of a trivial
    run; see docs/dagster.md). The run gets its id from here (``execute_in_process``'s
    ``run_id``), so that the listener is in place before Dagster logs its first event.
    """

    def __init__(self, instance: Any) -> None:
        self.run_id = _new_run_id()
        self._instance = instance
        self._entries: Optional[List[Any]] = []
        self._listening = False
        add_listener = getattr(instance, "add_event_listener", None)
        if callable(add_listener):
            try:
                add_listener(self.run_id, self._append)
                self._listening = True
            except Exception:  # another Dagster: the entries are read back after the run
                self._listening = False

    def _append(self, entry: Any) -> None:
        entries = self._entries
        if entries is not None:  # an entry of the run logged after it ended goes nowhere
            entries.append(entry)

    def close(self) -> Optional[List[Any]]:
        """The run's entries; None when they must be read back from the instance."""
        entries, self._entries = self._entries, None
        # Dagster keeps a run's listeners for the instance's life (it has no call to
        # remove one): ours goes with the run.
        listeners = getattr(self._instance, "_subscribers", None)
        if isinstance(listeners, dict):
            listeners.pop(self.run_id, None)
        return entries if self._listening else None


def _new_run_id() -> str:
    """A new run id, made as Dagster makes its own (``make_new_run_id``)."""
    make = getattr(sys.modules.get("dagster._core.utils"), "make_new_run_id", None)
    if callable(make):
        return str(make())
    import uuid  # only Dagster locations run jobs here; Dagster imported it already

    return str(uuid.uuid4())


def partition_keys(partitions_def: Any, instance: Any) -> List[str]:
    """The keys of a partitions definition now, dynamic partitions read from ``instance``."""
    context = _partition_loading_context()
    if context is not None:
        with context(dynamic_partitions_store=instance):
            return list(partitions_def.get_partition_keys())
    return list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))


def last_partition_key(partitions_def: Any, instance: Any) -> Optional[str]:
    """The last key of a partitions definition now (dynamic partitions read from
    ``instance``), None when it has none: the last of :func:`partition_keys`, as
    ``PartitionsDefinition.get_last_partition_key`` defines it, without listing every key
    where the definition knows its last one (a time window: 0.3 ms, against 60-90 ms
    to list a daily definition's 2,500 keys since 2020, and 1-1.6 s for an hourly one's
    34,000 since 2023, on every run of its job)."""
    getter = getattr(partitions_def, "get_last_partition_key", None)
    context = _partition_loading_context()
    if callable(getter) and context is not None:
        try:
            with context(dynamic_partitions_store=instance):
                key = getter()
        except Exception:  # another Dagster's signature: list the keys
            pass
        else:
            return None if key is None else str(key)
    keys = partition_keys(partitions_def, instance)
    return str(keys[-1]) if keys else None


def has_partition(partitions_def: Any, key: str, instance: Any) -> bool:
    """Whether ``key`` is a partition of ``partitions_def`` (dynamic ones read from
    ``instance``, where the daemon adds a tick's requested partitions first)."""
    if "Dynamic" in type(partitions_def).__name__:
        return True  # a tick may add it (AddDynamicPartitionsRequest) before its runs
    context = _partition_loading_context()
    if context is not None:
        with context(dynamic_partitions_store=instance):
            return bool(partitions_def.has_partition_key(key))
    return bool(partitions_def.has_partition_key(key, dynamic_partitions_store=instance))


def _partition_loading_context() -> Any:
    module = sys.modules.get("dagster._core.definitions.partitions.context")
    return getattr(module, "partition_loading_context", None)


def _flatten(
    graph_def: Any, prefix: str, input_sources: Dict[str, List[str]]
) -> Tuple[List[str], Dict[str, List[str]], Dict[str, List[str]]]:
    """The ops of a graph, nested graphs included, in topological order, with the ops
    each one depends on, and the ops that produce each of the graph's outputs."""
    order: List[str] = []
    dependencies: Dict[str, List[str]] = {}
    produced_by: Dict[str, Dict[str, List[str]]] = {}  # node -> output -> ops
    structure = graph_def.dependency_structure
    for node in graph_def.nodes_in_topological_order:
        inputs: Dict[str, List[str]] = {}
        for node_input, outputs in structure.input_to_upstream_outputs_for_node(node.name).items():
            sources = inputs.setdefault(node_input.input_name, [])
            for output in outputs:
                sources.extend(produced_by.get(output.node_name, {}).get(output.output_name, []))
        for mapping in graph_def.input_mappings:
            if mapping.mapped_node_name == node.name:
                inputs.setdefault(mapping.mapped_node_input_name, []).extend(
                    input_sources.get(mapping.graph_input_name, [])
                )
        handle = prefix + node.name
        if hasattr(node.definition, "dependency_structure"):  # a nested graph
            inner_order, inner_deps, outputs_of = _flatten(node.definition, handle + ".", inputs)
            order.extend(inner_order)
            dependencies.update(inner_deps)
            produced_by[node.name] = outputs_of
        else:
            order.append(handle)
            upstream: List[str] = []
            for sources in inputs.values():
                upstream.extend(op for op in sources if op not in upstream)
            dependencies[handle] = upstream
            produced_by[node.name] = {
                output.name: [handle] for output in node.definition.output_defs
            }
    graph_outputs = {
        mapping.graph_output_name: produced_by.get(mapping.mapped_node_name, {}).get(
            mapping.mapped_node_output_name, []
        )
        for mapping in graph_def.output_mappings
    }
    return order, dependencies, graph_outputs


def _run_config_error(job_def: Any, run_config: Any, exc: Any) -> Exception:
    """Our ``RunConfigError`` for Dagster's ``DagsterInvalidConfigError``.

    Dagster reports a missing mapping (``ops`` at the root) as one missing field; to
    name the keys the user must supply, we fill missing mappings with ``{}`` and
    validate again until only missing leaves (``ops.greet.config.name``) remain.
    """
    errors = list(getattr(exc, "errors", []) or [])
    problems = [str(getattr(error, "message", error)) for error in errors]
    only_missing = bool(errors) and all(_reason(error) in _MISSING_REASONS for error in errors)
    paths: List[Tuple[str, ...]] = []
    try:
        paths = _missing_paths(job_def, run_config, errors)
    except Exception:  # a best effort: Dagster's own message says it all anyway
        paths = []
    missing = [_missing_entry(path) for path in paths]
    if only_missing and not missing:
        only_missing = False
    unset_paths = _unset_paths(errors)
    message = str(exc)
    if unset_paths:
        # Say what to do first; Dagster's words follow, without its own frames.
        # Dagster names the resource whose own config (``.configured``) it checked.
        checked = re.search(r"Error in config for resource (\S+?):?\s", message + " ")
        said = _unset_variables(unset_paths, checked.group(1) if checked else None)
        message = "\n".join(
            [f"Error in config for job {job_def.name}: " + said[0]]
            + said[1:]
            + ["Dagster says:"]
            + [_without_stack_trace(problem) for problem in problems]
        )
    error: Exception = definitions.RunConfigError(
        message, job_name=job_def.name, missing=missing, problems=problems
    )
    # Read by the worker: Dagster tells exactly which errors are missing fields.
    error.only_missing = only_missing  # type: ignore[attr-defined]
    # Read by LeftOut: the config paths the missing keys are at, and those of the values
    # whose EnvVar is not set (with the variable's name); whether these are all it says.
    error.missing_paths = paths  # type: ignore[attr-defined]
    error.unset_paths = unset_paths  # type: ignore[attr-defined]
    error.only_missing_or_unset = bool(unset_paths) and all(  # type: ignore[attr-defined]
        _reason(problem) in _MISSING_REASONS
        or _UNSET_VARIABLE.search(str(getattr(problem, "message", "")))
        for problem in errors
    )
    return error


def _unset_paths(errors: List[Any]) -> List[Tuple[Tuple[str, ...], str]]:
    """``(config path, variable)`` of each error about an ``EnvVar`` that is not set."""
    found = []
    for error in errors:
        unset = _UNSET_VARIABLE.search(str(getattr(error, "message", "")))
        if unset is not None:
            levels = getattr(getattr(error, "stack", None), "levels", ())
            found.append((tuple(str(level) for level in levels), unset.group(1)))
    return found


_UNSET_VARIABLE = re.compile(r'environment variable "([^"]+)" which is not set')


def _unset_variable(
    path: Tuple[str, ...], variable: str, resource: Optional[str] = None
) -> Tuple[str, str]:
    """What reads a config value ``EnvVar("X")`` (``{"env": "X"}``) at ``path`` whose
    ``variable`` is not set (a sentence), and what else than setting it the user can do.
    ``resource``: the resource whose own config Dagster was checking, if it said."""
    levels = list(path)
    if len(levels) >= 2 and levels[0] == "resources":
        field = ".".join(levels[3:]) if levels[2:3] == ["config"] else ".".join(levels[2:])
        reader = f"resource {levels[1]!r}" + (f" (its config field {field!r})" if field else "")
        instead = "or replace the resource with the pytest_workspace_resources hook"
    elif levels and levels[0] not in _RUN_CONFIG_ROOTS:
        # Not run config: config fixed in the code (``.configured(...)``), checked as the
        # resource or op it configures starts. No run config can change it.
        field = ".".join(levels[1:] if levels[0] == "config" else levels)
        fixed = "fixed in the code with .configured()"
        if resource is not None:
            reader = f"resource {resource!r} (its config field {field!r}, {fixed})"
            instead = "or replace the resource with the pytest_workspace_resources hook"
        else:
            reader = f"config {fixed}" + (f" (its field {field!r})" if field else "")
            instead = (
                "or replace the resource it configures with the pytest_workspace_resources hook"
            )
    else:
        reader = f"the config at {'.'.join(levels) or 'the root'}"
        instead = "or give that config with the pytest_workspace_run_config hook"
    return (
        f"{reader} reads the environment variable {variable} (EnvVar), which is not "
        "set in the location's process.",
        instead,
    )


#: The keys at the top of a job's run config.
_RUN_CONFIG_ROOTS = ("ops", "resources", "execution", "loggers", "inputs")


def _unset_variables(
    unset_paths: List[Tuple[Tuple[str, ...], str]], resource: Optional[str] = None
) -> List[str]:
    """What to do about the ``EnvVar`` values whose variable is not set: one line for each,
    then the ways to give them, once."""
    said = [_unset_variable(levels, variable, resource) for levels, variable in unset_paths]
    insteads = list(dict.fromkeys(instead for _, instead in said))
    it = "it" if len(said) == 1 else "them"
    advice = (
        f"Set {it} in a .env file the location reads, as Dagster reads it (its project's, "
        "or the one next to its workspace file), or in the environment pytest starts in (a "
        "conftest.py may set os.environ before the locations start), " + ", ".join(insteads) + "."
    )
    if len(said) == 1:
        return [f"{said[0][0]} {advice}"]
    return [reader for reader, _ in said] + [advice]


def _without_stack_trace(problem: str) -> str:
    return problem.split("\n\nStack Trace:", 1)[0].strip()


def _reason(error: Any) -> str:
    reason = getattr(error, "reason", None)
    return str(getattr(reason, "value", reason))


def _missing_paths(job_def: Any, run_config: Any, errors: List[Any]) -> List[Tuple[str, ...]]:
    """The config paths of the missing leaves (``("ops", "greet", "config", "name")``)."""
    dagster = loaded_dagster()
    config = copy.deepcopy(run_config) if isinstance(run_config, dict) else {}
    leaves: List[Tuple[str, ...]] = []
    for _ in range(32):  # bounded: each round goes one level deeper
        to_fill: List[Tuple[str, ...]] = []
        for error in errors:
            if _reason(error) not in _MISSING_REASONS:
                continue
            path = tuple(getattr(error.stack, "levels", ()))
            data = error.error_data
            names = list(getattr(data, "field_names", None) or [data.field_name])
            snaps = list(getattr(data, "field_snaps", None) or [data.field_snap])
            for name, snap in zip(names, snaps):
                full = (*path, name)
                if str(getattr(snap, "type_key", "")).startswith(_SHAPE_TYPE_PREFIXES):
                    to_fill.append(full)
                elif full not in leaves:
                    leaves.append(full)
        if not to_fill:
            break
        for full in to_fill:
            target = config
            for part in full:
                target = target.setdefault(part, {})
        try:
            dagster.validate_run_config(job_def, config)
            break
        except dagster.DagsterInvalidConfigError as exc:
            errors = list(exc.errors)
    return leaves


def _missing_entry(path: Tuple[str, ...]) -> Any:
    # (op, key) pairs, as our definitions report them, when the path is an op's config.
    if len(path) >= 4 and path[0] == "ops" and path[2] == "config":
        return (path[1], ".".join(path[3:]))
    return ".".join(path)


class DagsterRunResult:
    """Dagster's ``ExecuteInProcessResult`` with the interface of our ``ExecutionResult``,
    plus the assets it materialized and its asset checks' results.

    A failed asset check of severity ERROR fails the run (Dagster itself only fails the
    run for a blocking check): its step is reported failed, with the check as error.
    """

    def __init__(
        self,
        result: Any,
        instance: Any,
        op_names: List[str],
        entries: Optional[List[Any]] = None,
    ) -> None:
        """``entries``: the run's event log entries, as :class:`RunEvents` gathered them;
        None to read them back from ``instance``."""
        self.success = bool(result.success)
        self.run_id: str = result.run_id
        self.error: Optional[Dict[str, Any]] = None
        self.logs: List[definitions.LogEntry] = []
        if entries is None:
            try:
                entries = list(instance.all_logs(result.run_id))
            except Exception:
                entries = []
        import logging  # Dagster has imported it; a worker without Dagster never needs it

        starts: Dict[str, float] = {}
        ends: Dict[str, Tuple[str, float]] = {}
        for entry in entries:
            event = entry.dagster_event
            event_name = event.event_type.name if event is not None else None
            self.logs.append(
                definitions.LogEntry(
                    entry.timestamp,
                    logging.getLevelName(entry.level),
                    entry.step_key,
                    entry.user_message,
                    event_name,
                    "dagster",  # the logger Dagster's console log names
                )
            )
            if event_name == "STEP_UP_FOR_RETRY":
                # Dagster says so at DEBUG: a step that passes only on a retry is worth
                # a warning in the item's log.
                self.logs.append(_retry_warning(entry))
            if event_name == "STEP_START" and entry.step_key:
                starts[entry.step_key] = entry.timestamp
            elif event_name in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                ends[entry.step_key] = (event_name, entry.timestamp)
        failures: Dict[str, Any] = {}
        outputs_of: Dict[str, List[str]] = {}
        self.materializations: List[Dict[str, Any]] = []
        self.observations: List[Dict[str, Any]] = []
        self.asset_checks: List[Dict[str, Any]] = []
        failed_checks: Dict[str, Dict[str, Any]] = {}
        for event in result.all_events:
            name = event.event_type.name
            if event.is_step_failure:
                failures[event.step_key] = event.step_failure_data
            elif name == "STEP_OUTPUT":
                outputs_of.setdefault(event.step_key, []).append(event.step_output_data.output_name)
            elif name == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                self.materializations.append(
                    {
                        "asset_key": materialization.asset_key.to_user_string(),
                        "op": event.step_key,
                        "partition": materialization.partition,
                    }
                )
            elif name == "ASSET_OBSERVATION":
                self.observations.append(_observation_data(event))
            elif name == "ASSET_CHECK_EVALUATION":
                check = _check_data(event.event_specific_data, event.step_key)
                self.asset_checks.append(check)
                if not check["passed"] and check["severity"] == "ERROR":
                    failed_checks.setdefault(event.step_key, check)
            elif name == "RUN_FAILURE" and not self.success:
                data = getattr(event, "job_failure_data", None)
                if data is not None and getattr(data, "error", None) is not None:
                    self.error = error_data_from_info(data.error, stage="execute")
        steps = list(op_names) + [key for key in ends if key not in op_names]
        observing = _observing_steps(result) if failures else {}
        # Steps as our definitions' results, with error data (a dict) as the error:
        # Dagster hands us no exception object.
        self.step_results: Dict[str, definitions.StepResult] = {}
        for step in steps:
            status_event, ended = ends.get(step, ("STEP_SKIPPED", 0.0))
            status = {"STEP_SUCCESS": "success", "STEP_FAILURE": "failure"}.get(
                status_event, "skipped"
            )
            duration = max(0.0, ended - starts[step]) if step in starts else 0.0
            error = None
            failure = failures.get(step)
            if _blocking_check_failed(failure) and step in failed_checks:
                # Dagster's *1 blocking asset check failed with ERROR severity:* names
                # the check only: the check's own result says what failed.
                status = "failure"
                error = _failed_check_error(failed_checks[step], blocking=True)
            elif failure is not None and failure.error is not None:
                error = error_data_from_info(failure.error, stage="execute", op=step)
                _add_failure_metadata(error, getattr(failure, "user_failure_data", None))
                if step in observing:
                    _say_observing(error, observing[step])
            elif step in failed_checks:
                status = "failure"
                error = _failed_check_error(failed_checks[step])
            output = None
            if status == "success":
                output = _output(result, step, outputs_of.get(step, []))
            # The error is error data, not an exception: the worker reads it as it is.
            step_error: Any = error
            self.step_results[step] = definitions.StepResult(
                step, status, duration, step_error, output
            )
        if failed_checks:
            self.success = False

    @classmethod
    def combined(
        cls, results: List[DagsterRunResult], op_names: List[str], notes: List[str]
    ) -> DagsterRunResult:
        """One result for the runs of one item (``__ASSET_JOB``'s runs, one per partitions
        definition): a success if each was; steps in the job's op order; ``notes`` are
        logged as warnings (what did not run)."""
        first = results[0]
        merged = cls.__new__(cls)
        merged.success = all(result.success for result in results)
        merged.run_id = first.run_id
        merged.error = next((r.error for r in results if r.error is not None), None)
        merged.logs = [entry for result in results for entry in result.logs]
        import time

        merged.logs.extend(
            definitions.LogEntry(time.time(), "WARNING", None, note, None) for note in notes
        )
        merged.materializations = [m for result in results for m in result.materializations]
        merged.observations = [o for result in results for o in result.observations]
        merged.asset_checks = [c for result in results for c in result.asset_checks]
        steps = {name: step for result in results for name, step in result.step_results.items()}
        order = [name for name in op_names if name in steps]
        order += sorted(set(steps) - set(order))
        merged.step_results = {name: steps[name] for name in order}
        return merged


def _partitions_groups(repo: Any, job: DagsterJob) -> Optional[List[Tuple[List[Any], Set[Any]]]]:
    """The assets of ``__ASSET_JOB`` (those it materializes, and the observable source
    assets it observes) grouped by partitions definition, in the asset
    graph's order, when they have more than one (None otherwise: the job runs as it is),
    each with its asset checks: those of its assets, and for the unpartitioned group (else
    the first) also the checks of external assets, which no group materializes.

    Dagster's implicit job over assets of several partitions definitions has none of its
    own: run whole, without a partition, every partitioned asset fails in Dagster's
    *Cannot access partition_key for a non-partitioned run*. The UI's "Materialize all"
    launches a run per partitions definition instead (a backfill).
    """
    if job.name != IMPLICIT_ASSET_JOB_NAME or job.dagster_job.partitions_def is not None:
        return None
    graph: Any = getattr(getattr(repo, "dagster_repository", None), "asset_graph", None)
    try:
        executable = _executable_keys(graph)
        ordered = [key for key in graph.toposorted_asset_keys if key in executable]
        definitions_seen: List[Any] = []
        groups: List[List[Any]] = []
        for key in ordered:
            partitions_def = graph.get(key).partitions_def
            for index, seen in enumerate(definitions_seen):
                if seen == partitions_def:
                    groups[index].append(key)
                    break
            else:
                definitions_seen.append(partitions_def)
                groups.append([key])
        checks = set(graph.asset_check_keys)
    except Exception:  # another Dagster's asset graph: run the job as it is
        return None
    if len(groups) < 2:
        return None
    external = {check for check in checks if check.asset_key not in executable}
    # External assets' checks go with the unpartitioned assets (a run that always runs).
    host = definitions_seen.index(None) if None in definitions_seen else 0
    with_checks = []
    for index, keys in enumerate(groups):
        own = {check for check in checks if check.asset_key in set(keys)}
        with_checks.append((keys, own | external if index == host else own))
    return with_checks


def _executable_keys(graph: Any) -> Set[Any]:
    """The asset keys a run of ``__ASSET_JOB`` executes: those it materializes and the
    observable source assets it observes (the UI's "Materialize all" and "Observe
    sources" are each a subset of that job)."""
    return set(graph.materializable_asset_keys) | set(
        getattr(graph, "observable_asset_keys", None) or ()
    )


def _has_key(partitions_def: Any, key: str, instance: Any) -> bool:
    """Whether ``key`` is a partition of ``partitions_def`` now (a dynamic one: on
    ``instance``; a key that is not a key of its kind at all is simply not one)."""
    if "Dynamic" in type(partitions_def).__name__:
        name = getattr(partitions_def, "name", None)
        return bool(name) and bool(instance.has_dynamic_partition(name, key))
    try:
        return has_partition(partitions_def, key, instance)
    except Exception:  # a key Dagster cannot even parse for that definition
        return False


def _config_for_ops(run_config: Mapping[str, Any], op_names: List[str]) -> Dict[str, Any]:
    """``run_config`` with its ``ops`` entries limited to the ops of a job subset (Dagster
    refuses config for an op the subset does not have)."""
    config = dict(run_config)
    ops = config.get("ops")
    if isinstance(ops, Mapping):
        roots = {name.split(".")[0] for name in op_names}
        config["ops"] = {name: value for name, value in ops.items() if name in roots}
        if not config["ops"]:
            del config["ops"]
    return config


#: What a job's skip for missing run config tells to do (``checks.py``), said where
#: ``__ASSET_JOB`` leaves assets out for it.
_RUN_CONFIG_HINT = "supply it with the pytest_workspace_run_config hook in a conftest.py"


class _UnsetVariable(str):
    """The name of an environment variable an ``EnvVar`` reads and nobody set, among the
    missing config keys of :class:`LeftOut` (its entries give them apart)."""


class LeftOut:
    """What ``__ASSET_JOB`` leaves out because its run config lacks keys (or reads an
    ``EnvVar`` that is not set: then the item fails once the rest has run).

    Dagster refuses a run of "Materialize all" before any step runs when one asset takes
    a ``Config`` with a required field, or uses a resource whose config is given at
    launch (``configure_at_launch()``, a ``config_schema``); skipping the item for it
    would leave every other asset of the location untested. The config path of each
    missing key names what needs it: ``ops.<node>.…`` the asset(s) or asset check of
    that node, ``resources.<key>.…`` those using that resource (directly, or through a
    resource that depends on it). Those are left out, with what is downstream of them
    (it would load what they never stored) and the checks of every asset left out; the
    rest runs. A missing key of anything else (``loggers``, ``execution``) leaves nothing
    out: the run's config error stands, and the item is skipped as for any job.

    Only ``__ASSET_JOB`` (:meth:`of`): a job the user defined (``define_asset_job``) is
    their own selection, run whole or not at all. Nothing of this is built before a run
    lacks config: a run with its config pays nothing.
    """

    def __init__(self, repo_def: Any, job_def: Any) -> None:
        self._repo_def = repo_def
        self._job_def = job_def
        # asset key or check key -> (the missing keys, the left-out asset it is
        # downstream of, or whose check it is; None: it needs them itself)
        self._why: Dict[Any, Tuple[List[str], Optional[Any]]] = {}
        self._said: Set[Any] = set()
        self._maps: Optional[Tuple[Dict[str, Any], Dict[str, Any], Dict[Any, str]]] = None
        #: What was left out, as the protocol's ``left_out`` entries, in the runs' order.
        self.entries: List[Dict[str, Any]] = []
        #: The first config error that left something out: the item's error (it is
        #: skipped) when nothing is left to run.
        self.first_error: Optional[Exception] = None
        #: The first that did for an ``EnvVar`` not set: the item fails for it once the
        #: rest has run (an unset variable fails a job; missing config skips it).
        self.unset_error: Optional[Exception] = None

    @classmethod
    def of(cls, repo: Any, job: DagsterJob) -> Optional[LeftOut]:
        """For ``__ASSET_JOB``; None for any other job."""
        repo_def = getattr(repo, "dagster_repository", None)
        if job.name != IMPLICIT_ASSET_JOB_NAME or repo_def is None:
            return None
        return cls(repo_def, job.dagster_job)

    @property
    def _graph(self) -> Any:
        return self._repo_def.asset_graph

    def _users(self) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[Any, str]]:
        """What each node computes, who uses each resource (asset keys, check keys),
        and the node of each key."""
        if self._maps is None:
            resource_defs = dict(getattr(self._job_def, "resource_defs", None) or {})

            def with_dependencies(keys: Iterable[str]) -> Set[str]:
                found: Set[str] = set()
                todo = list(keys)
                while todo:
                    key = todo.pop()
                    if key not in found:
                        found.add(key)
                        resource = resource_defs.get(key)
                        todo.extend(getattr(resource, "required_resource_keys", None) or ())
                return found

            of_node: Dict[str, Tuple[Set[Any], Set[Any]]] = {}
            of_resource: Dict[str, Tuple[Set[Any], Set[Any]]] = {}
            node_of: Dict[Any, str] = {}
            for assets_def in self._graph.assets_defs:
                keys, checks = set(assets_def.keys), set(assets_def.check_keys)
                name = assets_def.node_def.name
                for key in keys | checks:
                    node_of[key] = name
                for users in [of_node.setdefault(name, (set(), set()))] + [
                    of_resource.setdefault(resource, (set(), set()))
                    for resource in with_dependencies(assets_def.required_resource_keys)
                ]:
                    users[0].update(keys)
                    users[1].update(checks)
            self._maps = (of_node, of_resource, node_of)
        return self._maps

    def affects(self, selection: Optional[Tuple[List[Any], Set[Any]]]) -> bool:
        """Whether something of ``selection`` (None: the whole job) is left out."""
        if selection is None:
            return bool(self._why)
        keys, checks = selection
        return any(key in self._why for key in keys) or any(c in self._why for c in checks)

    def everything(self) -> Tuple[List[Any], Set[Any]]:
        """The whole job's asset keys (in the asset graph's order) and check keys."""
        executable = _executable_keys(self._graph)
        keys = [key for key in self._graph.toposorted_asset_keys if key in executable]
        return keys, set(self._graph.asset_check_keys)

    def leave_out(self, error: Exception) -> bool:
        """Leave out what needs the keys ``error`` (our ``RunConfigError``) says are
        missing; False when it cannot (a key of none of the assets or checks, a wrong
        value, nothing new to leave out): then the error stands."""
        paths = list(getattr(error, "missing_paths", None) or [])
        unset = list(getattr(error, "unset_paths", None) or [])
        if getattr(error, "only_missing", False) and paths:
            unset = []
        elif not (getattr(error, "only_missing_or_unset", False) and unset):
            return False
        try:
            of_node, of_resource, _ = self._users()
            needing: Dict[Any, List[str]] = {}
            named = [(path, _missing_name(_missing_entry(path))) for path in paths]
            named += [(path, _UnsetVariable(variable)) for path, variable in unset]
            for path, name in named:
                users = None
                if len(path) >= 2 and path[0] == "ops":
                    users = of_node.get(path[1])
                elif len(path) >= 2 and path[0] == "resources":
                    users = of_resource.get(path[1])
                if not users or not (users[0] or users[1]):
                    return False
                for key in sorted(users[0] | users[1], key=_key_name):
                    needing.setdefault(key, []).append(name)
            if all(key in self._why for key in needing):
                return False
            for key, names in needing.items():
                self._why.setdefault(key, (names, None))
            self._downstream(list(needing))
        except Exception:  # another Dagster's asset graph: the error stands, as before
            return False
        if self.first_error is None:
            self.first_error = error
        if unset and self.unset_error is None:
            self.unset_error = error
        return True

    def _downstream(self, frontier: List[Any]) -> None:
        """Leave out what is downstream of the assets of ``frontier`` (and the rest of a
        multi-asset that cannot be subset), and the checks of every asset left out."""
        graph = self._graph
        asset_keys = set(graph.toposorted_asset_keys)
        frontier = [key for key in frontier if key in asset_keys]
        while frontier:
            key = frontier.pop(0)
            missing, upstream = self._why[key]
            node = graph.get(key)
            together = set(node.child_keys) | set(getattr(node, "execution_set_asset_keys", ()))
            for other in sorted(together - {key}, key=_key_name):
                if other not in self._why:
                    self._why[other] = (missing, upstream or key)
                    frontier.append(other)
        for check in sorted(graph.asset_check_keys, key=_key_name):
            if check not in self._why and check.asset_key in self._why:
                self._why[check] = (self._why[check.asset_key][0], check.asset_key)

    def selection(self, keys: List[Any], checks: Set[Any]) -> Tuple[List[Any], Set[Any]]:
        """``keys`` and ``checks`` without what is left out, which the entries get."""
        assets = set(keys)
        node_of = self._users()[2]
        for key in list(keys) + sorted(checks, key=_key_name):
            if key in self._why and key not in self._said:
                self._said.add(key)
                missing, upstream = self._why[key]
                is_check = key not in assets
                self.entries.append(
                    {
                        "asset_key": (key.asset_key if is_check else key).to_user_string(),
                        "check_name": key.name if is_check else None,
                        "missing": [m for m in missing if not isinstance(m, _UnsetVariable)],
                        "unset": [str(m) for m in missing if isinstance(m, _UnsetVariable)],
                        "upstream": None if upstream is None else upstream.to_user_string(),
                        "op": node_of.get(key),
                    }
                )
        return [key for key in keys if key not in self._why], {
            check for check in checks if check not in self._why
        }

    def add_to(self, result: DagsterRunResult, job: DagsterJob) -> None:
        """Say in ``result`` what was left out: the ops of what was left out are
        ``skipped`` steps, and the run's log has a warning naming them."""
        if not self.entries:
            return
        _, _, node_of = self._users()
        nodes = {node_of[key] for key in self._why if key in node_of}
        steps = dict(result.step_results)
        for op in job.op_names:
            if op not in steps and op.split(".")[0] in nodes:
                steps[op] = definitions.StepResult(op, "skipped", 0.0, None, None)
        order = [op for op in job.op_names if op in steps]
        result.step_results = {op: steps[op] for op in order + sorted(set(steps) - set(order))}
        assets = [entry["asset_key"] for entry in self.entries if entry["check_name"] is None]
        checks = [
            f"{entry['asset_key']}:{entry['check_name']}"
            for entry in self.entries
            if entry["check_name"] is not None
        ]
        what = [
            f"{len(names)} {kind}{'' if len(names) == 1 else 's'} ({', '.join(names)})"
            for kind, names in (("asset", assets), ("asset check", checks))
            if names
        ]
        missing = list(dict.fromkeys(m for entry in self.entries for m in entry["missing"]))
        unset = list(dict.fromkeys(u for entry in self.entries for u in entry.get("unset", ())))
        reasons = []
        if missing:
            reasons.append(
                f"run config it was not given: missing {', '.join(missing)}; {_RUN_CONFIG_HINT}"
            )
        if unset:
            reasons.append(f"environment variables not set: {', '.join(unset)}")
        import time  # as DagsterRunResult.combined: Dagster imported it already

        result.logs.append(
            definitions.LogEntry(
                time.time(),
                "WARNING",
                None,
                f"job {job.name!r} left out {' and '.join(what)} for {'; and for '.join(reasons)}",
                None,
            )
        )


def _key_name(key: Any) -> str:
    """An asset key's or a check key's name as Dagster writes it (``a/b``, ``a:check``)."""
    return str(key.to_user_string())


def _missing_name(entry: Any) -> str:
    """A missing key as the worker names it (``op.key``; a full config path otherwise)."""
    return entry if isinstance(entry, str) else "{}.{}".format(*tuple(entry))


def _observation_data(event: Any) -> Dict[str, Any]:
    """An observation of a source asset as plain data: its key, op, partition and the
    data version its observation function returned."""
    observation = event.event_specific_data.asset_observation
    version = getattr(observation, "data_version", None)
    if version is None:
        version = dict(getattr(observation, "tags", None) or {}).get("dagster/data_version")
    return {
        "asset_key": observation.asset_key.to_user_string(),
        "op": event.step_key,
        "partition": observation.partition,
        "data_version": None if version is None else str(version),
    }


def _observing_steps(result: Any) -> Dict[str, List[str]]:
    """The steps of a run that observe source assets, with the assets each observes
    (an ``@observable_source_asset`` is one op; ``@multi_observable_source_asset``'s op
    observes several)."""
    try:
        assets_defs = result.job_def.asset_layer.asset_graph.assets_defs
        return {
            assets_def.node_def.name: sorted(key.to_user_string() for key in assets_def.keys)
            for assets_def in assets_defs
            if assets_def.is_observable and assets_def.is_executable
        }
    except Exception:  # another Dagster's asset layer: the op alone is named
        return {}


def _say_observing(error: Dict[str, Any], assets: List[str]) -> None:
    """Name the source assets a failed step was observing, in its error's message."""
    names = ", ".join(repr(name) for name in assets)
    said = f" (observing source asset{'s' if len(assets) > 1 else ''} {names})"
    error["message"] = str(error.get("message") or "") + said
    traceback = str(error.get("traceback") or "")
    if traceback.endswith("\n"):
        error["traceback"] = traceback[:-1] + said + "\n"


def _check_data(evaluation: Any, step_key: Optional[str]) -> Dict[str, Any]:
    """An asset check's result as plain data."""
    severity = getattr(evaluation, "severity", None)
    metadata = _plain_metadata(getattr(evaluation, "metadata", None))
    return {
        "asset_key": evaluation.asset_key.to_user_string(),
        "check_name": evaluation.check_name,
        "passed": bool(evaluation.passed),
        "severity": str(getattr(severity, "value", severity) or "ERROR"),
        "description": getattr(evaluation, "description", None),
        "metadata": metadata,
        "op": step_key,
    }


def _blocking_check_failed(failure: Any) -> bool:
    """Whether a step failed because a blocking asset check of its asset failed."""
    error = getattr(failure, "error", None)
    return str(getattr(error, "cls_name", "")) == "DagsterAssetCheckFailedError"


def _failed_check_error(check: Dict[str, Any], blocking: bool = False) -> Dict[str, Any]:
    message = (
        f"asset check {check['check_name']!r} of asset {check['asset_key']!r} failed "
        "with severity ERROR"
    )
    if check["description"]:
        message += f": {check['description']}"
    if blocking:
        message += " (a blocking check: the assets downstream of it did not run)"
    error = {
        "type": "AssetCheckFailed",
        "message": message,
        "traceback": "",
        "kind": "user",
        "stage": "execute",
        "op": check["op"],
        "asset_key": check["asset_key"],
        "check_name": check["check_name"],
    }
    return _with_metadata(error, dict(check["metadata"]))


def _output(result: Any, step: str, names: List[str]) -> Any:
    try:
        if not names:
            return None
        if names == ["result"]:
            return result.output_for_node(step)
        return {name: result.output_for_node(step, name) for name in names}
    except Exception:  # dynamic outputs, custom IO managers: an output we cannot read back
        return None


def error_data_from_info(info: Any, stage: str, **extra: Any) -> Dict[str, Any]:
    """Error data (see docs/protocol.md) from Dagster's ``SerializableErrorInfo``.

    Dagster wraps the user's exception (``DagsterExecutionStepExecutionError``) and hands
    us its text, not the exception: we report the user's exception, with only the user's
    frames in its traceback.
    """
    while info.cause is not None and str(info.cls_name or "").startswith(_WRAPPER_PREFIXES):
        info = info.cause
    retries = None
    exhausted = _RETRIES_EXHAUSTED.match(str(info.message or ""))
    from_policy = str(info.cls_name or "") == "RetryRequestedFromPolicy"
    if info.cause is not None and exhausted:
        # A RetryPolicy's last attempt failed: the user's exception is the error.
        retries = int(exhausted.group(1))
        info = info.cause
        while info.cause is not None and str(info.cls_name or "").startswith(_WRAPPER_PREFIXES):
            info = info.cause
    resource = None
    if info.cause is not None and str(info.cls_name or "") == _RESOURCE_ERROR:
        # A resource that failed to start (a database it cannot reach): the user's
        # exception is the error, said to come from that resource.
        named = re.search(r"on ResourceDefinition (\S+)", str(info.message or ""))
        resource = named.group(1) if named else "?"
        traceback = _format_info(info, set())
        info = info.cause
    cls_name = str(info.cls_name or "Exception")
    message = str(info.message or "").rstrip("\n")
    # Python names a class of a module other than builtins by its module too
    # (definitions.ValidationError, dagster._core.definitions.events.Failure).
    qualified = re.match(r"(?:[\w.]+\.)?" + re.escape(cls_name) + r"(?:: |$)", message)
    if qualified:
        message = message[qualified.end() :]
    if resource is None:
        traceback = _format_info(info, set())
        if retries is not None:
            attempts = f"{retries + 1} attempts" if retries else "1 attempt"
            allowed = f"{retries} retr" + ("y" if retries == 1 else "ies")
            said = f" (the last of {attempts}: " + (
                f"its RetryPolicy allows {allowed})" if from_policy else f"{allowed} allowed)"
            )
            message += said
            traceback = traceback[:-1] + said + "\n" if traceback.endswith("\n") else traceback
    else:
        message += (
            f" (initializing resource {resource!r}; a test run can replace it with the "
            "pytest_workspace_resources hook)"
        )
        traceback += f"\n{cls_name}: {message}\n"
    return _protocol.error_dict(cls_name, message, traceback, kind="user", stage=stage, **extra)


def _retry_warning(entry: Any) -> definitions.LogEntry:
    """A warning for a step that failed and is retried (Dagster's ``STEP_UP_FOR_RETRY``,
    from a ``RetryPolicy`` or a ``RetryRequested``), naming the exception it failed with."""
    info = getattr(entry.dagster_event.event_specific_data, "error", None)
    while (
        info is not None
        and info.cause is not None
        and str(info.cls_name or "").startswith(("RetryRequested", *_WRAPPER_PREFIXES))
    ):
        info = info.cause  # RetryRequested(FromPolicy), raised from the user's exception
    why = ""
    if info is not None:
        data = error_data_from_info(info, stage="execute")
        why = f" with {data['type']}: {data['message']}"
    return definitions.LogEntry(
        entry.timestamp,
        "WARNING",
        entry.step_key,
        f"op {entry.step_key!r} failed{why}, and is retried",
        None,
    )


#: Dagster's error when a step's RetryPolicy has no retry left; its cause is the user's.
_RETRIES_EXHAUSTED = re.compile(r"Exceeded max_retries of (\d+)")


def _add_failure_metadata(error: Dict[str, Any], failure: Any) -> None:
    """The metadata of a ``dg.Failure`` (``Failure(description, metadata={...})``), which
    Dagster keeps beside the error (the step's ``user_failure_data``), added to the
    error (see :func:`_with_metadata`)."""
    _with_metadata(error, _plain_metadata(getattr(failure, "metadata", None)))


def _plain_metadata(metadata: Any) -> Dict[str, Any]:
    """Dagster metadata (``MetadataValue``s or raw values) as plain data, by key."""
    return {
        str(key): _protocol.to_plain(getattr(value, "value", value))
        for key, value in dict(metadata or {}).items()
    }


def _with_metadata(error: Dict[str, Any], metadata: Dict[str, Any]) -> Dict[str, Any]:
    """``error`` with ``metadata`` (plain) in its ``metadata`` and, one entry a line,
    after its traceback (or its one line), where the report shows it."""
    if metadata:
        error["metadata"] = metadata
        shown = str(error.get("traceback") or "").rstrip("\n")
        shown = shown or f"{error['type']}: {error['message']}"
        lines = "".join(f"  {key}: {_shown(value)}\n" for key, value in metadata.items())
        error["traceback"] = shown + "\nmetadata:\n" + lines
    return error


def _shown(value: Any) -> str:
    """A metadata value as the report shows it: a value that is not plain data (a
    table, say) by its repr."""
    if isinstance(value, dict) and _protocol.REPR_MARKER in value:
        return str(value[_protocol.REPR_MARKER])
    return str(value)


def _format_info(info: Any, seen: Set[int]) -> str:
    if id(info) in seen:
        return ""
    seen.add(id(info))
    text = ""
    if getattr(info, "cause", None) is not None:
        text = (
            _format_info(info.cause, seen)
            + "\nThe above exception was the direct cause of the following exception:\n\n"
        )
    elif getattr(info, "context", None) is not None:
        text = (
            _format_info(info.context, seen)
            + "\nDuring handling of the above exception, another exception occurred:\n\n"
        )
    frames = [frame for frame in (info.stack or []) if not _is_library_frame(frame)]
    message = str(info.message or "").rstrip("\n")
    return text + "Traceback (most recent call last):\n" + "".join(frames) + message + "\n"


def _library_folders() -> List[str]:
    folders = []
    for name in ("dagster", "dagster_shared", "dagster_pipes"):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            folders.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return folders


def _is_library_frame(frame: str) -> bool:
    match = _FRAME_FILE.match(frame)
    if match is None:
        return False
    filename = match.group(1)
    if filename.startswith("<pytest_workspace") or filename.endswith(os.sep + "contextlib.py"):
        return True
    return any(filename.startswith(folder) for folder in _library_folders())


class DagsterSchedule:
    """A Dagster ``ScheduleDefinition`` with the interface of ours."""

    kind = "schedule"

    def __init__(self, schedule_def: Any) -> None:
        self.dagster_schedule = schedule_def
        self.name: str = schedule_def.name
        cron = schedule_def.cron_schedule
        self.cron_schedule: str = cron if isinstance(cron, str) else ", ".join(cron)
        self.job_name: Optional[str] = _job_name(schedule_def)

    def evaluate(self, repo: DagsterRepository, instance: Any) -> Dict[str, Any]:
        """One tick as the daemon runs it: the repository, the worker's instance, the
        schedule's resources, a scheduled time of now (in the schedule's timezone)."""
        dagster = loaded_dagster()
        import datetime  # only Dagster locations need it; Dagster imported it already

        timezone = _timezone(self.dagster_schedule.execution_timezone)
        now = datetime.datetime.now(timezone)
        context = dagster.build_schedule_context(
            instance=instance,
            scheduled_execution_time=now,
            repository_def=repo.dagster_repository,
            resources=_tick_resources(self.dagster_schedule, repo) or None,
        )
        _hand_over_instance(context, instance)
        with context, _dynamic_partitions_from(instance):
            data = _evaluate_tick(self, self.dagster_schedule, context)
        return _tick_data(self, repo, data, instance)


class DagsterSensor:
    """A Dagster ``SensorDefinition`` with the interface of ours."""

    kind = "sensor"

    def __init__(self, sensor_def: Any) -> None:
        self.dagster_sensor = sensor_def
        self.name: str = sensor_def.name
        self.job_name: Optional[str] = _job_name(sensor_def)

    def evaluate(self, repo: DagsterRepository, instance: Any) -> Dict[str, Any]:
        """One tick as the daemon's first one: the repository, the worker's instance,
        the sensor's name and resources, no cursor and no previous run."""
        dagster = loaded_dagster()
        if type(self.dagster_sensor).__name__ == _AUTOMATION_SENSOR:
            return self._evaluate_automation(repo, instance)
        context = dagster.build_sensor_context(
            instance=instance,
            cursor=None,
            repository_name=repo.name,
            repository_def=repo.dagster_repository,
            sensor_name=self.name,
            resources=_tick_resources(self.dagster_sensor, repo) or None,
        )
        _read_dynamic_partitions_from(context, instance)
        with context, _dynamic_partitions_from(instance):
            data = _evaluate_tick(self, self.dagster_sensor, context)
        return _tick_data(self, repo, data, instance)

    def _evaluate_automation(self, repo: DagsterRepository, instance: Any) -> Dict[str, Any]:
        """The first tick of a declarative automation sensor (``AutomationCondition`` on
        assets: Dagster's ``default_automation_condition_sensor`` or an
        ``AutomationConditionSensorDefinition``), which the daemon evaluates in its own
        way, never as a sensor function (``evaluate_tick`` raises ``NotImplementedError``).

        Evaluated with Dagster's ``evaluate_automation_conditions`` over the sensor's
        asset selection, on the worker's instance, with no cursor: the asset partitions
        it requests are its run requests, one per partition key (the assets of
        ``__ASSET_JOB`` it would launch), and a tick that requests nothing is a skip.
        """
        dagster = loaded_dagster()
        repo_def = repo.dagster_repository
        assets = list(repo_def.asset_graph.assets_defs)
        try:
            result = dagster.evaluate_automation_conditions(
                defs=dagster.Definitions(assets=assets),
                instance=instance,
                asset_selection=self.dagster_sensor.asset_selection,
            )
        except Exception as exc:
            # Dagster says only *Error while evaluating conditions for <asset>*, raised
            # from what a condition (a custom AutomationCondition's evaluate) raised.
            cause = exc.__cause__
            said = _AUTOMATION_ERROR.match(str(exc))
            if said is None or not isinstance(cause, Exception):
                raise
            error = _tick_error(self, cause)
            if error is None:
                raise
            data = error.data
            data["message"] += f" (evaluating the automation condition of asset {said.group(1)})"
            raise error from None
        by_partition: Dict[Optional[str], List[Any]] = {}
        for key in sorted(repo_def.asset_graph.get_all_asset_keys()):
            for partition in sorted(result.get_requested_partitions(key), key=str):
                by_partition.setdefault(partition, []).append(key)
        if not by_partition:
            return {
                "run_requests": [],
                "skip_reason": "no asset's automation condition requested a run on this "
                "first tick (no cursor)",
            }
        # Checked as the daemon launches them: __ASSET_JOB subset to the requested assets,
        # the partition one of theirs, the (empty) run config valid for them.
        requests = [
            dagster.RunRequest(
                job_name=IMPLICIT_ASSET_JOB_NAME,
                asset_selection=keys,
                partition_key=partition,
                tags={"dagster/partition": partition} if partition is not None else None,
            )
            for partition, keys in by_partition.items()
        ]
        import types  # only Dagster locations get here; Dagster imported it already

        ticked = types.SimpleNamespace(run_requests=requests, skip_message=None)
        return _tick_data(self, repo, ticked, instance)


#: Subclasses of Dagster's schedule context whose ``instance`` is the one handed over.
_INSTANCE_CONTEXTS: Dict[type, type] = {}


def _instance_of_context(context: Any) -> Any:
    return context._instance


def _hand_over_instance(context: Any, instance: Any) -> None:
    """Make ``context.instance`` of a schedule's context the worker's instance.

    ``build_schedule_context`` keeps an instance only through its ref, and an ephemeral
    instance has none, so a schedule reading ``context.instance`` (its runs, its dynamic
    partitions) stopped in Dagster's *Attempted to initialize dagster instance, but no
    instance reference was provided*; the daemon's context always has one. The context
    has ``__slots__``: its class becomes a subclass (no slot of its own) whose
    ``instance`` property returns the instance put in its ``_instance`` slot.
    """
    cls = type(context)
    try:
        sub = _INSTANCE_CONTEXTS.get(cls)
        if sub is None:
            namespace = {"__slots__": (), "instance": property(_instance_of_context)}
            sub = _INSTANCE_CONTEXTS[cls] = type(cls.__name__, (cls,), namespace)
        context._instance = instance
        context.__class__ = sub
    except Exception:  # another Dagster's context: it keeps its own rules
        pass


def _dynamic_partitions_from(instance: Any) -> Any:
    """A context in which Dagster reads dynamic partitions from ``instance``.

    The daemon's tick contexts carry an ``instance_ref``, from which Dagster makes the
    store it resolves a run request's dynamic partition key against; an ephemeral
    instance has no ref, so without this a ``RunRequest(partition_key=...)`` for a job on
    ``DynamicPartitionsDefinition`` stops in Dagster's *The instance is not available to
    load partitions*.
    """
    import contextlib  # only Dagster locations evaluate ticks; Dagster imported it already

    context = _partition_loading_context()
    if context is None:
        return contextlib.nullcontext()
    return context(dynamic_partitions_store=instance)


def _read_dynamic_partitions_from(context: Any, instance: Any) -> None:
    """Give a sensor context the dynamic partitions loader the daemon's has.

    Dagster resolves a sensor's partitioned run requests against that loader *plus* the
    tick's own ``dynamic_partitions_requests`` (a ``SensorResult`` adding ``"acme"`` may
    request a run of ``"acme"``); the context makes it only from an ``instance_ref``.
    The requests are not applied to the worker's instance: another item's verdict must
    not depend on whether this sensor ran first.
    """
    loader_class = getattr(
        sys.modules.get("dagster._core.instance.types"), "CachingDynamicPartitionsLoader", None
    )
    if loader_class is not None and "caching_dynamic_partitions_loader" in vars(type(context)):
        try:
            # A functools.cached_property: the instance's own value takes precedence.
            context.__dict__["caching_dynamic_partitions_loader"] = loader_class(instance)
        except Exception:  # another Dagster: it resolves as it does
            pass


class InvalidRunRequestError(definitions.InvalidTargetError):
    """A run request that the Dagster daemon would refuse to launch."""


def _timezone(name: Optional[str]) -> Any:
    import datetime

    if name:
        try:
            import zoneinfo  # Python 3.9+

            return zoneinfo.ZoneInfo(name)
        except Exception:  # an unknown zone: Dagster refuses it when the tick runs anyway
            pass
    return datetime.timezone.utc


def _tick_resources(definition: Any, repo: DagsterRepository) -> Dict[str, Any]:
    """The repository's resources that a schedule or sensor asks for, as the daemon
    hands them over."""
    required = set(getattr(definition, "required_resource_keys", None) or ())
    if not required:
        return {}
    top_level = dict(repo.dagster_repository.get_top_level_resources())
    return {key: value for key, value in top_level.items() if key in required}


def _evaluate_tick(owner: Any, definition: Any, context: Any) -> Any:
    dagster = loaded_dagster()
    try:
        return definition.evaluate_tick(context)
    except dagster.DagsterUserCodeExecutionError as exc:
        # Dagster wraps what a schedule's function raised (*ScheduleExecutionError: Error
        # occurred during the evaluation of schedule x*): the user's exception is the
        # error, with its own traceback and causes.
        cause = exc.__cause__
        if not isinstance(cause, Exception):
            raise
        error = _tick_error(owner, cause)
        if error is None:
            cause.__suppress_context__ = True
            raise cause  # noqa: B904  # the wrapper is not part of the user's error
        raise error from None
    except dagster.DagsterUnknownPartitionError as exc:
        raise InvalidRunRequestError(
            f"{owner.kind} {owner.name!r} requested a run of a partition its target "
            f"(job or selected assets) does not have; Dagster says: {str(exc).rstrip('.')}. "
            "The daemon would not launch it: yield RunRequest(partition_key=...) with a key "
            "of the job's or the assets' partitions definition"
        ) from None
    except Exception as exc:  # a sensor's function: Dagster lets its exception through
        error = _tick_error(owner, exc)
        if error is None:
            raise
        raise error from None


#: Dagster's error for an automation condition that raised (its cause is the user's).
_AUTOMATION_ERROR = re.compile(r"Error while evaluating conditions for (.+)$")


def _tick_error(owner: Any, exc: Exception) -> Optional[_backend.ReportedError]:
    """What a tick raised, said as an op's error is (see :func:`_user_error`)."""
    return _user_error(exc, f"evaluate_{owner.kind}")


def _user_error(exc: Exception, stage: str) -> Optional[_backend.ReportedError]:
    """What the user's code raised outside an op (a tick, a config mapping function),
    said as an op's error is (:func:`error_data_from_info` on Dagster's
    ``SerializableErrorInfo``): the class as Dagster names it (``MyError``,
    ``Failure``), the user's frames only, a ``Failure``'s metadata after the traceback.
    None when Dagster cannot describe it: the worker does, as any exception."""
    # Dagster's own description of an exception, as it makes an op's (a private module).
    describe = getattr(
        sys.modules.get("dagster._utils.error"), "serializable_error_info_from_exc_info", None
    )
    if describe is None:
        return None
    try:
        info = describe((type(exc), exc, exc.__traceback__))
        error = error_data_from_info(info, stage=stage)
    except Exception:  # another Dagster, or an exception it cannot describe
        return None
    if isinstance(exc, loaded_dagster().Failure):
        _add_failure_metadata(error, exc)
    return _backend.ReportedError(error)


def _tick_data(owner: Any, repo: DagsterRepository, data: Any, instance: Any) -> Dict[str, Any]:
    """The evaluation's plain data, each run request checked as the daemon checks it
    before it launches a run: its job exists, its partition key is one of the job's,
    its run config is valid for the job. A request that selects assets runs its target
    job (for a sensor targeting assets, the implicit asset job Dagster resolves) subset
    to those assets, as the daemon launches it: the checks are against that subset."""
    dagster = loaded_dagster()
    requests = list(getattr(data, "run_requests", None) or [])
    skip = getattr(data, "skip_message", None)
    produced = {
        "asset_events": [_asset_event_data(event) for event in _tick_list(data, "asset_events")],
        "dynamic_partitions_requests": [
            _partitions_request_data(request)
            for request in _tick_list(data, "dynamic_partitions_requests")
        ],
    }
    if skip is not None and not requests:
        return {"run_requests": [], "skip_reason": skip, **produced}
    to_plain = _protocol.to_plain
    plain = []
    for index, request in enumerate(requests):
        what = f"run request {index}" + (
            f" (run_key {request.run_key!r})" if request.run_key is not None else ""
        )
        job_name = getattr(request, "job_name", None) or owner.job_name
        if job_name is not None and job_name not in repo.dagster_repository.job_names:
            raise InvalidRunRequestError(
                f"{owner.kind} {owner.name!r}: {what} targets job {job_name!r}, which is not "
                f"in repository {repo.name!r}; its jobs: {', '.join(repo.job_names) or 'none'}"
            )
        assets = getattr(request, "asset_selection", None)
        checks = getattr(request, "asset_check_keys", None)
        if assets is not None:
            selected = ", ".join(key.to_user_string() for key in assets) or "none"
            what += f" (assets {selected}"
            if checks:
                # A freshness checks sensor's requests select checks, and no asset.
                what += "; checks " + ", ".join(_check_key_name(key) for key in checks)
            what += ")"
        job_def = _launched_job(owner, repo, job_name, request, what) if job_name else None
        partition_key = getattr(request, "partition_key", None)
        if job_def is not None and partition_key is not None:
            partitions_def = job_def.partitions_def
            if partitions_def is None or not has_partition(partitions_def, partition_key, instance):
                raise InvalidRunRequestError(
                    f"{owner.kind} {owner.name!r}: {what} asks for partition "
                    f"{partition_key!r} of job {job_name!r}"
                    + (" subset to its assets" if assets is not None else "")
                    + ", which "
                    + (
                        "has no partitions definition"
                        if partitions_def is None
                        else "has no such partition"
                    )
                    + "; the daemon would not launch it"
                )
        if job_def is not None:
            run_config = request.run_config or {}
            if not run_config and partition_key is not None and job_def.partitioned_config:
                run_config = job_def.partitioned_config.get_run_config_for_partition_key(
                    partition_key
                )
            try:
                dagster.validate_run_config(job_def, run_config or None)
            except dagster.DagsterInvalidConfigError as exc:
                raise InvalidRunRequestError(
                    f"{owner.kind} {owner.name!r}: {what} has run config that is not valid "
                    f"for job {job_name!r}"
                    + (" subset to its assets" if assets is not None else "")
                    + f", so the daemon would not launch it. Dagster says: {exc}"
                ) from None
        entry = {
            "run_key": request.run_key,
            "run_config": to_plain(request.run_config or {}),
            "tags": to_plain(dict(request.tags or {})),
            "job_name": job_name,
            "partition_key": partition_key,
        }
        if assets is not None:
            entry["asset_selection"] = [key.to_user_string() for key in assets]
        if checks is not None:
            entry["asset_check_keys"] = [_check_key_name(key) for key in checks]
        plain.append(entry)
    return {"run_requests": plain, "skip_reason": None, **produced}


def _tick_list(data: Any, name: str) -> List[Any]:
    """A list a tick's data may have (a sensor's ``asset_events``...; a schedule's has none)."""
    try:
        return list(getattr(data, name, None) or [])
    except TypeError:
        return []


def _asset_event_data(event: Any) -> Dict[str, Any]:
    """An asset event a sensor's tick reports (``SensorResult(asset_events=[...])``),
    which the daemon records as it is: a materialization, an observation, or an asset
    check's evaluation (with its check's name, result and severity)."""
    kind = type(event).__name__
    data: Dict[str, Any] = {
        "type": {
            "AssetMaterialization": "materialization",
            "AssetObservation": "observation",
            "AssetCheckEvaluation": "check_evaluation",
        }.get(kind, kind),
        "asset_key": event.asset_key.to_user_string(),
        "partition": getattr(event, "partition", None),
        "description": getattr(event, "description", None),
        "metadata": _plain_metadata(getattr(event, "metadata", None)),
    }
    if kind == "AssetCheckEvaluation":
        severity = getattr(event, "severity", None)
        data.update(
            check_name=event.check_name,
            passed=bool(event.passed),
            severity=str(getattr(severity, "value", severity) or "ERROR"),
        )
    return data


def _partitions_request_data(request: Any) -> Dict[str, Any]:
    """A tick's ``AddDynamicPartitionsRequest`` / ``DeleteDynamicPartitionsRequest``:
    the keys the daemon would add to, or delete from, that partitions definition."""
    return {
        "action": "delete" if type(request).__name__.startswith("Delete") else "add",
        "partitions_def": request.partitions_def_name,
        "partition_keys": [str(key) for key in request.partition_keys],
    }


def _check_key_name(key: Any) -> str:
    """An asset check's key as the report names checks: ``asset:check``."""
    return f"{key.asset_key.to_user_string()}:{key.name}"


def _check_targets_build(repo: DagsterRepository, owner: Any, definition: Any) -> None:
    """The jobs a schedule or sensor targets by name must build, before its tick: the
    daemon could launch none of its runs otherwise, and a tick that skips would hide it.
    (A target Dagster resolves from assets is built for each run request instead.)"""
    names = []
    for target in getattr(definition, "targets", None) or []:
        try:
            name = target.job_name
        except Exception:  # an asset selection: no job of the repository's
            continue
        if isinstance(name, str):
            names.append(name)
    if not names and owner.job_name is not None:
        names.append(owner.job_name)  # a Dagster without ``targets``
    for name in dict.fromkeys(names):
        if not repo.has_job(name):
            continue  # what check_target says, or an anonymous job of assets
        try:
            repo.get_job(name)
        except definitions.InvalidDefinitionError as exc:
            error = definitions.InvalidTargetError(
                f"{owner.kind} {owner.name!r} targets job {name!r}, so the daemon would "
                f"launch none of its runs: {exc}"
            )
            summary = getattr(exc, "summary", None) or f"{type(exc).__name__}: {exc}"
            setattr(error, "summary", f"target job {name!r} failed to build: {summary}")  # noqa: B010
            raise error from None


def _launched_job(
    owner: Any, repo: DagsterRepository, job_name: str, request: Any, what: str
) -> Any:
    """The job the daemon launches for ``request``: ``job_name``, subset to the request's
    assets and checks when it selects some (the daemon's ``JobSubsetSelector``)."""
    repository_def = repo.dagster_repository
    assets = getattr(request, "asset_selection", None)
    if assets is None:
        try:
            return repository_def.get_job(job_name)
        except loaded_dagster().DagsterError as exc:  # the job's own build error
            raise InvalidRunRequestError(
                f"{owner.kind} {owner.name!r}: {what} targets job {job_name!r}, which "
                f"Dagster could not build, so the daemon would not launch it: "
                f"{type(exc).__name__}: {exc}{_causes(exc)}"
            ) from None
    checks = getattr(request, "asset_check_keys", None)
    try:
        return repository_def.get_maybe_subset_job_def(
            job_name,
            asset_selection=set(assets),
            asset_check_selection=set(checks) if checks is not None else None,
        )
    except Exception as exc:  # assets the job does not have: Dagster's subset error
        raise InvalidRunRequestError(
            f"{owner.kind} {owner.name!r}: {what} selects assets that job {job_name!r} "
            f"cannot run, so the daemon would not launch it. Dagster says: {exc}"
        ) from None


def _job_name(definition: Any) -> Optional[str]:
    try:
        name = definition.job_name
    except Exception:  # several targets, or an asset selection: no single job
        return None
    return name if isinstance(name, str) else None
