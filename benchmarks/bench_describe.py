"""P2: describing one location of many lazily declared jobs, against importing its module.

Run ``python benchmarks/bench_describe.py`` (``--help`` for the sizes). It generates one
location module whose repository declares 10,000 jobs lazily (a dict of functions that
declare a job when called, the module of ``bench_load.py``) and measures in one run,
interleaved:

(a) bare: ``python -c "import repos_0"``, the interpreter started and the module imported
    with the same ``pytest_workspace.definitions`` the worker ships;
(b) ``load_workspace(...)`` until the location is described (10,000 job names listed,
    none built), then ``close()``.

It prints the medians and the ratio (b)/(a); issue 10's target is at most 1.2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
from _common import Run
from bench_load import Timings, generate, measure_bare, measure_load


def main(argv: Sequence[str] = ()) -> int:
    parser = _common.parser(__doc__, repeat=9)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs (default 10000)")
    args = parser.parse_args(list(argv) or None)
    if args.quick:
        args.jobs, args.repeat = 50, 1

    with _common.workdir("bench-describe-", args.keep) as root:
        generated = generate(root, 1, args.jobs, [sys.executable])
        timings = Timings()

        def ours() -> Run:
            measure_load(generated, args.jobs, timings, check=True)
            return Run(timings.load[-1] + timings.close[-1], 0.0)

        sides = _common.interleave(
            {"bare": lambda: Run(measure_bare(generated), 0.0), "describe": ours},
            args.repeat,
        )
        # The warm-up round is in ``timings`` too: only the timed rounds are reported.
        load, close = timings.load[1:], timings.close[1:]
        lines = [
            _common.header(f"1 location of {args.jobs} lazily declared jobs", args.repeat),
            "",
            *_common.table(
                [
                    ("(a) bare: interpreter started + module imported", sides.walls("bare")),
                    ("(b) load_workspace until described + close", sides.walls("describe")),
                    ("      of which load (start, init, import, describe)", load),
                    ("      of which close", close),
                ]
            ),
            "",
            _common.ratio_line(
                "(b)/(a)", sides.walls("describe"), sides.walls("bare"), target="<= 1.2"
            ),
            f"  jobs built by describing: {timings.built_by_describing} of "
            f"{args.jobs * (args.repeat + 1)} listed",
        ]
        print("\n".join(lines))
    return 1 if timings.built_by_describing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
