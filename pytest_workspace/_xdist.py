"""pytest-xdist by location: each code location starts on one worker, and only there.

The controller starts no location. Before collection it gives each of the run's W
workers a *slot* (``pytest_configure_node``, through ``workerinput``); a worker numbers
the run's locations in collection order and owns location ``k`` when ``k % W`` is its
slot (:class:`Ownership`). It collects the ordinary tests and the items of the locations
it owns, and starts only those: N locations make N processes, whatever W.

The workers' collections therefore differ, by design. :class:`LocationScheduling` takes
them apart: the items every worker collected go to xdist's own scheduler of the run's
``--dist`` mode (``load``, ``loadscope``, ``loadfile``, ``loadgroup``, ``worksteal``),
which sees only those (through :class:`_CommonView`, which translates its indices) and
reports a mismatch among them as xdist does; each workspace item collected by one worker
alone is *pinned*: sent to that worker, once. ``--dist each`` runs every item on every
worker by definition: there every worker owns every location. Imported only under xdist.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath
from typing import Any, Callable, Collection, Dict, List, Optional, Sequence, Set

import pytest
from xdist.scheduler import (
    LoadFileScheduling,
    LoadGroupScheduling,
    LoadScheduling,
    LoadScopeScheduling,
    WorkStealingScheduling,
)
from xdist.workermanage import parse_tx_spec_config

#: xdist's scheduler of each ``--dist`` mode that sends an item to one worker.
_INNER = {
    "load": LoadScheduling,
    "loadscope": LoadScopeScheduling,
    "loadfile": LoadFileScheduling,
    "loadgroup": LoadGroupScheduling,
    "worksteal": WorkStealingScheduling,
}


def location_scope(
    nodeid: str, targets: Collection[str], patterns: Sequence[str], suffixes: Sequence[str]
) -> Optional[str]:
    """The location a workspace item's node id belongs to (None: not a workspace item).

    ``file.yaml::<location>::...`` for a workspace file's items, ``<target>::...`` for
    a ``-f``/``-m`` location's.
    """
    path, sep, rest = nodeid.partition("::")
    if not sep:
        return None
    if path in targets:
        return path
    pure = PurePosixPath(path)
    if pure.suffix in suffixes or any(pure.match(pattern) for pattern in patterns):
        return f"{path}::{rest.split('::')[0]}"
    return None


class Slots:
    """The controller's slots: one per worker of the run, given as workers are set up.

    A worker that crashes before the items are scheduled gives its slot back, to its
    replacement (which then owns the same locations and collects in its place); a worker
    replaced later owns none (its locations' pending items were failed, see
    :meth:`LocationScheduling.remove_node`).
    """

    def __init__(self, count: int) -> None:
        self.count = count
        #: Set once the items are scheduled: a slot is no longer given back.
        self.scheduled = False
        self._free = list(range(count))
        self._held: Dict[str, int] = {}

    def take(self, worker: str) -> Optional[int]:
        if not self._free:
            return None
        slot = self._free.pop(0)
        self._held[worker] = slot
        return slot

    def down(self, worker: str, crashed: bool) -> None:
        slot = self._held.pop(worker, None)
        if slot is not None and crashed and not self.scheduled:
            self._free.insert(0, slot)


class _CommonView:
    """A worker as xdist's scheduler sees it: its collection is the items every worker
    collected, and its indices are translated to the worker's own collection."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.gateway = node.gateway
        #: Index in the common collection -> index in the worker's own collection.
        self.own: List[int] = []
        #: Set while the worker's pinned items are still to be sent: a shutdown waits.
        self.hold_shutdown = True
        self._shutdown_asked = False
        self._sent: Callable[[Sequence[int]], None] = lambda indices: None

    @property
    def shutting_down(self) -> bool:
        return bool(self.node.shutting_down) or self._shutdown_asked

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        own = [self.own[index] for index in indices]
        self._sent(own)
        self.node.send_runtest_some(own)

    def send_runtest_all(self) -> None:
        self.send_runtest_some(range(len(self.own)))

    def send_steal(self, indices: Sequence[int]) -> None:
        self.node.send_steal([self.own[index] for index in indices])

    def shutdown(self) -> None:
        if self.hold_shutdown:
            self._shutdown_asked = True
        else:
            self.node.shutdown()

    def release(self) -> None:
        """The worker's pinned items are sent: a shutdown asked meanwhile goes out now."""
        self.hold_shutdown = False
        if self._shutdown_asked:
            self.node.shutdown()

    def __repr__(self) -> str:
        return f"<common view of {self.node!r}>"


class LocationScheduling:
    """xdist's scheduler for the items every worker collected, and each workspace item
    on the one worker that owns its location (see the module's docstring)."""

    def __init__(
        self,
        config: pytest.Config,
        log: Any,
        inner: Any,
        scope_of: Callable[[str], Optional[str]],
        session: Optional[pytest.Session],
        slots: Optional[Slots],
    ) -> None:
        self.config = config
        self.slots = slots
        self.numnodes = len(parse_tx_spec_config(config))
        self.inner = inner
        self.scope_of = scope_of
        self.session = session
        #: Each worker's own collection (kept when it goes down, as xdist does).
        self.collections: Dict[Any, List[str]] = {}
        self.views: Dict[Any, _CommonView] = {}
        #: Per worker: own index -> index in the common collection.
        self.common_index: Dict[Any, Dict[int, int]] = {}
        #: Per worker: own indices of its pinned items -> completed.
        self.pinned: Dict[Any, Dict[int, bool]] = {}
        #: Per worker: own indices in the order they were sent, and those completed.
        self.sent: Dict[Any, List[int]] = {}
        self.done: Dict[Any, Set[int]] = {}
        #: Node ids every initial worker collected (None until all collected).
        self.common: Optional[Set[str]] = None
        #: How many distinct items the workers collected: xdist's "[N items]".
        self.total = 0
        self.scheduled = False
        self._count_items_once()

    # -- what DSession asks ----------------------------------------------------------

    @property
    def nodes(self) -> List[Any]:
        return list(self.views)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.collections) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        # Pinned items are all sent at once, so they need no more scheduling.
        return self.collection_is_completed and bool(self.inner.tests_finished)

    @property
    def has_pending(self) -> bool:
        # Before the first schedule() nothing is pending, as for xdist's schedulers (its
        # "N workers [M items]" line is shown then).
        pinned = self.scheduled and any(
            not done for items in self.pinned.values() for done in items.values()
        )
        return pinned or bool(self.inner.has_pending)

    def add_node(self, node: Any) -> None:
        view = _CommonView(node)
        view._sent = self.sent.setdefault(node, []).extend
        self.views[node] = view
        self.done[node] = set()
        self.pinned[node] = {}
        self.common_index[node] = {}
        self.inner.add_node(view)

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        late = self.collection_is_completed
        self.collections[node] = list(collection)
        if late:
            # A replacement for a crashed worker: it owns no location (Slots), so what
            # it collected is compared with the common collection by xdist.
            common = self.common or set()
            self._split(node, lambda nodeid: nodeid in common or not self._location(nodeid))
        elif self.collection_is_completed:
            counts = Counter(n for ids in self.collections.values() for n in set(ids))
            self.total = len(counts)
            self.common = {nodeid for nodeid, count in counts.items() if count == self.numnodes}
            for each in self.collections:
                if each in self.views:
                    # One worker collecting it alone makes an item pinned only if it is
                    # a location's item: any other difference is xdist's to report.
                    self._split(
                        each,
                        lambda nodeid: (
                            self.numnodes == 1 or counts[nodeid] > 1 or not self._location(nodeid)
                        ),
                    )
        if self.collection_is_completed and self.session is not None:
            self.session.testscollected = self.total  # xdist counted one worker's

    def _location(self, nodeid: str) -> bool:
        return self.scope_of(nodeid) is not None

    def _split(self, node: Any, is_common: Callable[[str], bool]) -> None:
        view = self.views[node]
        common: List[str] = []
        for index, nodeid in enumerate(self.collections[node]):
            if is_common(nodeid):
                self.common_index[node][index] = len(common)
                view.own.append(index)
                common.append(nodeid)
            else:
                self.pinned[node][index] = False
        self.inner.add_node_collection(view, common)

    def schedule(self) -> None:
        assert self.collection_is_completed
        self.inner.schedule()
        if self.scheduled:
            for view in self.views.values():
                view.release()
            return
        self.scheduled = True
        if self.slots is not None:
            self.slots.scheduled = True
        if self.inner.collection is None:
            # xdist found that the workers collected different tests and reported it:
            # nothing runs, the pinned items neither.
            for items in self.pinned.values():
                items.clear()
        for node, view in self.views.items():
            indices = list(self.pinned[node])
            if indices:
                self.sent[node].extend(indices)
                node.send_runtest_some(indices)
            view.release()

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.done[node].add(item_index)
        if item_index in self.pinned[node]:
            self.pinned[node][item_index] = True
            return
        self.inner.mark_test_complete(
            self.views[node], self.common_index[node][item_index], duration
        )

    def mark_test_pending(self, item: str) -> None:
        if self.common is not None and item not in self.common:
            raise NotImplementedError(
                f"{item} can run only on the worker that owns its location, which is gone"
            )
        self.inner.mark_test_pending(item)

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        common = self.common_index[node]
        self.inner.remove_pending_tests_from_node(
            self.views[node], [common[index] for index in indices]
        )
        stolen = set(indices)
        self.sent[node][:] = [index for index in self.sent[node] if index not in stolen]

    def remove_node(self, node: Any) -> Optional[str]:
        """A worker went down. xdist's scheduler gives its pending common items to the
        others; its pending pinned items cannot run elsewhere (no other worker started
        their location): each is reported failed, as xdist reports the one it was
        running. Returns the item it was running (None: it had finished)."""
        view = self.views.pop(node)
        if not self.scheduled:
            # Gone before anything was scheduled: its replacement takes its slot (Slots)
            # and collects in its place.
            self.collections.pop(node, None)
            return self.inner.remove_node(view)  # type: ignore[no-any-return]
        collection = self.collections[node]
        done = self.done.pop(node)
        running = next((index for index in self.sent.pop(node, []) if index not in done), None)
        pinned = self.pinned.pop(node)
        inner_crashed: Optional[str] = None
        if view in self.inner.nodes:
            inner_crashed = self.inner.remove_node(view)
        if running is None:
            return inner_crashed
        crashed = collection[running]
        if running in pinned and inner_crashed is not None:
            # xdist's scheduler took its first pending item for the one that crashed:
            # it did not run yet, and runs elsewhere.
            try:
                self.inner.mark_test_pending(inner_crashed)
            except NotImplementedError:
                pass  # loadscope, loadfile, loadgroup queue it again themselves
        for index, completed in pinned.items():
            if not completed and index != running:
                self._report_not_run(node, collection[index], crashed)
        return crashed

    def _report_not_run(self, node: Any, nodeid: str, crashed: str) -> None:
        fspath = nodeid.split("::")[0]
        worker = node.gateway.id
        report = pytest.TestReport(
            nodeid=nodeid,
            location=(fspath, None, fspath),
            keywords={},
            outcome="failed",
            longrepr=(
                f"worker {worker!r} crashed while running {crashed!r} before it ran this "
                f"item, whose code location was started on that worker only"
            ),
            when="call",
        )
        report.node = node  # type: ignore[attr-defined]
        self.config.hook.pytest_runtest_logreport(report=report)

    # -- xdist's "N workers [M items]" -----------------------------------------------

    def _count_items_once(self) -> None:
        """xdist shows one worker's count; the workers' collections differ: show the
        number of distinct items, once every worker has collected."""
        reporter: Any = self.config.pluginmanager.get_plugin("terminaldistreporter")
        setstatus = getattr(reporter, "setstatus", None)
        if setstatus is None:
            return

        def counted(spec: Any, status: Any, *, tests_collected: int, show: bool = True) -> None:
            if self.collection_is_completed:
                # The line shows the first worker's count: every worker gets the total.
                tests_collected = self.total
                for node in self.collections:
                    if node.gateway.spec is not spec:
                        setstatus(node.gateway.spec, status, tests_collected=self.total, show=False)
            setstatus(spec, status, tests_collected=tests_collected, show=show)

        reporter.setstatus = counted


def make_scheduler(
    config: pytest.Config,
    log: Any,
    scope_of: Callable[[str], Optional[str]],
    session: Optional[pytest.Session],
    slots: Optional[Slots],
) -> Optional[LocationScheduling]:
    """The scheduler of this run's ``--dist``; None for ``each`` (every worker runs
    every item, and owns every location)."""
    inner = _INNER.get(config.getvalue("dist"))
    if inner is None:
        return None
    return LocationScheduling(config, log, inner(config, log), scope_of, session, slots)
