"""Exercise ``pytest_workspace.definitions`` the way a code location's worker loads it.

Usage: ``python definitions_selfcheck.py PACKAGE_DIR CEREAL_REPOS_PY``

The module, and ``protocol`` and ``_definition_errors`` that it imports (shipped before
it), are read as source text
and executed into fresh ``types.ModuleType`` objects registered in ``sys.modules`` under
their package names, exactly as the worker installs the modules it receives; nothing of
pytest-workspace needs to be installed. Prints one JSON object summarising what happened.
Runs on every supported Python (3.8+), so this file uses no newer syntax.
"""

import json
import os
import pickle
import sys
import types

#: What definitions.py needs, in the order the host ships it (locations.SHIPPED_MODULES).
MODULES = ("protocol", "_definition_errors", "definitions")


def install(package_dir):
    package = types.ModuleType("pytest_workspace")
    package.__path__ = []
    sys.modules["pytest_workspace"] = package
    for short in MODULES:
        path = os.path.join(package_dir, short + ".py")
        name = "pytest_workspace." + short
        module = types.ModuleType(name)
        module.__package__ = "pytest_workspace"
        sys.modules[name] = module
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        exec(compile(source, "<" + name + ">", "exec"), module.__dict__)
        setattr(package, short, module)
    return module


def error_of(fn):
    try:
        fn()
    except Exception as exc:
        return {"type": type(exc).__name__, "message": str(exc), "exc": exc}
    return None


def plain_error(fn):
    found = error_of(fn)
    if found is not None:
        del found["exc"]
    return found


def main(package_dir, cereal_path):
    d = install(package_dir)
    summary = {"python": "{}.{}".format(*sys.version_info[:2])}

    # The cereal tutorial, loaded as user code.
    cereal = types.ModuleType("repos")
    cereal.__file__ = cereal_path
    with open(cereal_path, encoding="utf-8") as handle:
        exec(compile(handle.read(), cereal_path, "exec"), cereal.__dict__)
    repo = cereal.hello_cereal_repository
    summary["cereal_job_names"] = repo.job_names
    summary["cereal_constructed_before"] = repo.constructed_job_names
    complex_job = repo.get_job("complex_job")
    summary["cereal_constructed_after"] = repo.constructed_job_names
    summary["complex_op_names"] = complex_job.op_names
    summary["complex_dependencies"] = complex_job.dependencies
    result = complex_job.execute_in_process()
    summary["complex_success"] = result.success
    summary["complex_output"] = result.output_for("display_results")
    summary["complex_user_logs"] = [e.message for e in result.logs if e.event is None]
    summary["complex_statuses"] = [s.status for s in result.step_results.values()]

    # Laziness.
    builds = []

    def builder(name):
        def build():
            builds.append(name)

            @d.op(name=name + "_op")
            def only():
                return name

            @d.job(name=name)
            def built():
                only()

            return built

        return build

    names = [f"job_{index:03d}" for index in range(300)]
    lazy = d.RepositoryDefinition("lazy", {"jobs": {name: builder(name) for name in names}})
    summary["lazy_names_ok"] = lazy.job_names == names
    summary["lazy_builds_after_listing"] = len(builds)
    lazy.get_job("job_042")
    lazy.get_job("job_042")
    summary["lazy_builds_after_get"] = list(builds)
    summary["lazy_constructed"] = lazy.constructed_job_names

    # Execution with config, failure and skip.
    @d.op(config_schema={"n": int})
    def configured(context):
        context.log.info(f"n is {context.op_config['n']}")
        return context.op_config["n"]

    @d.op
    def explode(value):
        raise ValueError(f"boom {value}")

    @d.op
    def after(value):
        return value

    @d.job(config={"ops": {"configured": {"config": {"n": 2}}}})
    def graph():
        after(explode(configured()))

    failed = graph.execute_in_process(raise_on_error=False)
    summary["failure_statuses"] = {k: v.status for k, v in failed.step_results.items()}
    summary["failure_error"] = repr(failed.step_results["explode"].error)
    summary["reraised"] = plain_error(lambda: graph.execute_in_process())
    config_error = error_of(
        lambda: graph.execute_in_process({"ops": {"configured": {"config": {"n": "x"}}}})
    )
    summary["config_error"] = {"type": config_error["type"], "message": config_error["message"]}

    @d.job
    def needs_config():
        configured()

    missing = error_of(needs_config.execute_in_process)
    summary["missing"] = [list(pair) for pair in missing["exc"].missing]
    clone = pickle.loads(pickle.dumps(missing["exc"]))
    summary["pickled_missing"] = [list(pair) for pair in clone.missing]

    # Repository errors.
    summary["mismatch"] = plain_error(
        lambda: d.RepositoryDefinition("r", {"jobs": {"key": lambda: graph}}).get_job("key")
    )
    summary["unknown"] = plain_error(lambda: repo.get_job("complex_jb"))
    summary["bad_member"] = plain_error(lambda: d.RepositoryDefinition("r", [graph, 3]))
    summary["bad_target"] = plain_error(
        lambda: d.RepositoryDefinition("r", [d.ScheduleDefinition("s", "@daily", job_name="x")])
    )

    # Schedules and sensors.
    @d.schedule("0 6 * * MON-FRI", job=graph)
    def weekday(context):
        return {"ops": {"configured": {"config": {"n": 3}}}}

    @d.sensor(job=graph)
    def watcher(context):
        yield d.RunRequest(run_key=context.cursor)

    with_schedules = d.RepositoryDefinition("scheduled", [weekday, watcher])
    summary["scheduled_jobs"] = with_schedules.job_names
    summary["schedule_tick"] = [r.run_config for r in weekday.evaluate_tick()]
    summary["sensor_tick"] = [r.run_key for r in watcher.evaluate_tick(cursor="c1")]
    summary["cron_error"] = plain_error(lambda: d.validate_cron_schedule("0 6 * * FUNDAY"))
    summary["bad_tick"] = plain_error(
        lambda: d.SensorDefinition("s", lambda: 5, job_name="graph").evaluate_tick()
    )
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
