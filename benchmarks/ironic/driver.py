#!/usr/bin/python3
"""Benchmark driver for the REAL OpenStack Ironic conductor TaskManager.

Runs the scenarios of ``benchmarks/scenarios/*.ts`` (same names, same variants, same operation)
against Debian's ``python3-ironic`` (21.4.x on Debian 12), imported with the system
``/usr/bin/python3``, and prints ONE JSON object on stdout::

    {"meta": {...versions and configuration...}, "results": [ScenarioResult, ...]}

where each ScenarioResult has the shape of ``benchmarks/lib/result.ts``: scenario, variant, ops,
seconds, opsPerSec, latencyUs{p50,p99,p999,max,mean}, extra{}. Everything else goes to stderr.

Set-up, as Ironic 21.4 itself does it (``ironic/cmd/__init__.py``, ``ironic/common/service.py``,
``ironic/tests/base.py``, ``ironic/tests/unit/db/base.py``,
``ironic/tests/unit/conductor/mgr_utils.py``):

* ``import ironic.cmd`` first: ``eventlet.monkey_patch(os=False)``, exactly like ironic-conductor
  (and Ironic's unit tests). 21.4's conductor runs on eventlet greenthreads: RPC requests are
  greenthreads and ``_spawn_worker`` submits to a ``futurist.GreenThreadPoolExecutor``.
* an ``ironic.conf`` written to a temp dir and loaded by ``ironic.common.service.prepare_command``
  (config, oslo.log, ``objects.register_all()``), as every Ironic command does: ``host``,
  ``enabled_hardware_types = fake-hardware``, every interface type enabled with its ``fake``
  implementation (``noop`` for network and storage), ``[database] connection`` and
  ``sqlite_synchronous = false`` (what Ironic's tests set), ``[conductor]
  node_locked_retry_attempts = 3`` / ``node_locked_retry_interval = 1`` (the defaults, written
  explicitly). ``notification_level`` is left unset (Ironic's default: no notifications are sent,
  though TaskManager still builds each provision_set payload).
* the database: ``--db memory`` (default) is ``sqlite://``, what Ironic's unit tests use (oslo.db
  turns it into ONE shared connection, ``StaticPool``); ``--db file`` is
  ``sqlite:///<tmpdir>/ironic.sqlite`` (SQLAlchemy then opens a connection per session,
  ``NullPool``), closer to a single-process SQLite deployment (Bifrost, metal3). The schema is
  created by ``ironic.db.sqlalchemy.migration.create_schema()``, i.e. ``ironic-dbsync
  create_schema``: ``models.Base.metadata.create_all`` + ``stamp('head')``, exactly what
  ``tests/unit/db/base.py`` does (21.4's alembic migrations cannot run from scratch on SQLite:
  they ALTER constraints).
* a real ``ironic.conductor.manager.ConductorManager``: ``prepare_host()`` + ``init_host()`` (it
  registers the conductor row and its hardware interfaces, builds the worker pool, starts the
  keepalive greenthread). Periodic tasks are patched out like ``mgr_utils._start_service`` does
  unless ``--periodics`` is given (they would take node locks at random moments of a run).
* Ironic's INFO logging ("Node ... moved to provision state ...") is filtered (root logger at
  WARNING) unless ``--log-level INFO``: our side runs with a silent logger.

Measurement: ``time.perf_counter_ns`` per operation, closed loop, warm-up, the same plan as
``benchmarks/lib/measure.ts`` (0.5 s warm-up, 3 rounds of 1.5 s, no forced gc, ops/s =
median of the rounds; quick: 50 ms + 1 round of 150 ms), percentiles computed here (nearest rank).
Scenarios whose Ironic operation lasts seconds (contention, spawn-after tasks) run a fixed, smaller
number of operations; ``extra`` says how many.

PostgreSQL (``--db postgres --db-url postgres://user:pass@host:port/db``, Debian's
python3-psycopg2, connection ``postgresql+psycopg2://...``): ``--create-schema`` creates Ironic's
schema there (``migration.create_schema()`` as above; create_all skips existing tables) and exits;
``--worker --host NAME`` is ONE conductor (its own CONF.host, its own ConductorManager) driven by
JSON commands on stdin (exclusive-cycle, contention, hold, takeover, create-node, quit; see the
worker section below): ``benchmarks/ironic/postgres.ts`` starts 1..N of them on the same
database for the multi-process figures. ``--db postgres`` without ``--worker`` runs the usual
scenarios in this one process on that database. ``--conf OPTION=VALUE`` sets a [conductor]
option (heartbeat_timeout, ...; hash_ring_reset_interval goes to [DEFAULT]).

    /usr/bin/python3 benchmarks/ironic/driver.py [--quick] [--scenario NAME ...]
        [--db memory|file|postgres] [--db-url URL] [--create-schema | --worker] [--host NAME]
        [--conf OPTION=VALUE ...] [--periodics] [--log-level WARNING]
"""

# ruff: noqa: E402  (the eventlet monkey patch must come before everything else, as in Ironic)
import ironic.cmd  # noqa: F401  eventlet.monkey_patch(os=False), EVENTLET_NO_GREENDNS, i18n

import argparse
import functools
import json
import logging
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import types
from unittest import mock

import eventlet
import eventlet.event

SCENARIOS = (
    'exclusive-cycle',
    'shared-cycle',
    'exclusive-ports',
    'process-event',
    'contention',
    'spawn-after',
)

HOST = 'bench-conductor'


def ironic_pg_url(url):
    """postgres://u:p@h:port/db (what node-postgres takes) -> postgresql+psycopg2://u:p@h:port/db
    (what Ironic, i.e. SQLAlchemy, takes). An URL with the SQLAlchemy scheme is kept."""
    if not url:
        raise SystemExit('--db postgres needs --db-url')
    for prefix in ('postgres://', 'postgresql://'):
        if url.startswith(prefix):
            return 'postgresql+psycopg2://' + url[len(prefix):]
    return url


def redact(url):
    """The connection string without its password."""
    if '@' not in url or '://' not in url:
        return url
    scheme, rest = url.split('://', 1)
    cred, host = rest.rsplit('@', 1)
    user = cred.split(':', 1)[0]
    return '%s://%s:***@%s' % (scheme, user, host)


def log(msg):
    print('[ironic driver] ' + msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# measurement


def percentile(sorted_ns, q):
    """Nearest-rank percentile of a sorted list of ns values, in µs (2 decimals)."""
    if not sorted_ns:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(sorted_ns)))
    return round(sorted_ns[rank - 1] / 1000.0, 2)


def latency_us(samples_ns):
    if not samples_ns:
        return {'p50': 0.0, 'p99': 0.0, 'p999': 0.0, 'max': 0.0, 'mean': 0.0}
    s = sorted(samples_ns)
    return {
        'p50': percentile(s, 50),
        'p99': percentile(s, 99),
        'p999': percentile(s, 99.9),
        'max': round(s[-1] / 1000.0, 2),
        'mean': round(statistics.fmean(s) / 1000.0, 2),
    }


# The quantiles of a stored CDF: benchmarks/lib/histogram.ts CDF_QUANTILES (every 2 %, the tail, max).
CDF_QUANTILES = [i / 50.0 for i in range(50)] + [0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0]


def histogram_json(samples_ns):
    """The result JSON's `histogram` (benchmarks/lib/histogram.ts HistogramJson) from raw ns samples:
    no HDR encoding (hdrNs null), CDF points by nearest rank, values in µs."""
    if not samples_ns:
        return None
    s = sorted(samples_ns)
    n = len(s)

    def at(q):
        return s[0] if q <= 0 else s[max(1, math.ceil(q * n)) - 1]
    return {'unit': 'us', 'count': n, 'hdrNs': None,
            'cdf': [[round(at(q) / 1000.0, 3), q] for q in CDF_QUANTILES]}


class Plan:
    def __init__(self, warmup_s, round_s, rounds, min_ops=1):
        self.warmup_s = warmup_s
        self.round_s = round_s
        self.rounds = rounds
        self.min_ops = min_ops


def loop_plan(quick, min_ops=1, round_s=None):
    """benchmarks/lib/measure.ts loopPlan: full 0.5 s + 3 x 1.5 s; quick 50 ms + 1 x 150 ms."""
    if quick:
        return Plan(0.05, 0.15, 1, min_ops)
    return Plan(0.5, round_s or 1.5, 3, min_ops)


def closed_loop(op, plan):
    """Call op() again and again; a round lasts round_s and at least min_ops operations."""
    warm_end = time.perf_counter_ns() + int(plan.warmup_s * 1e9)
    warm_ops = 0
    while time.perf_counter_ns() < warm_end or warm_ops < 1:
        op()
        warm_ops += 1
    samples = []
    rates = []
    total_ns = 0
    for _ in range(plan.rounds):
        round_ns = int(plan.round_s * 1e9)
        start = time.perf_counter_ns()
        t = start
        n = 0
        while t - start < round_ns or n < plan.min_ops:
            op()
            after = time.perf_counter_ns()
            samples.append(after - t)
            t = after
            n += 1
        elapsed = t - start
        total_ns += elapsed
        rates.append(n / (elapsed / 1e9))
    return samples, rates, total_ns


def rates_extra(rates):
    r = [round(x) for x in rates]
    return {} if len(r) < 2 else {'opsPerSecRange': '%d\u2013%d' % (min(r), max(r))}


def loop_result(scenario, variant, measured, extra=None):
    samples, rates, total_ns = measured
    out = dict(extra or {})
    out.update(rates_extra(rates))
    return {
        'scenario': scenario,
        'variant': variant,
        'ops': len(samples),
        'seconds': round(total_ns / 1e9, 3),
        'opsPerSec': round(statistics.median(rates), 2),
        'latencyUs': latency_us(samples),
        'histogram': histogram_json(samples),
        'extra': out,
    }


# --------------------------------------------------------------------------------------------
# Ironic set-up


class Ironic:
    """A configured Ironic 21.4 conductor in this process, on sqlite, with fake-hardware."""

    def __init__(self, tmpdir, db, periodics_on, log_level, db_url=None, host=HOST,
                 conductor_opts=None, create_schema=True):
        from ironic.drivers import base as drivers_base

        self.tmpdir = tmpdir
        self.host = host
        if db == 'memory':
            url = 'sqlite://'
        elif db == 'file':
            url = 'sqlite:///' + os.path.join(self.tmpdir, 'ironic.sqlite')
        else:
            url = ironic_pg_url(db_url)
        conductor_opts = dict(conductor_opts or {})
        lines = [
            '[DEFAULT]',
            'host = %s' % host,
            'enabled_hardware_types = fake-hardware',
            # ironic-conductor refuses rpc_transport=none; json-rpc keeps oslo.messaging quiet
            # (nothing here sends RPC: the TaskManager is called in-process).
            'rpc_transport = json-rpc',
        ]
        for iface in drivers_base.ALL_INTERFACES:
            impl = 'noop' if iface in ('network', 'storage') else 'fake'
            lines.append('enabled_%s_interfaces = %s' % (iface, impl))
        if 'hash_ring_reset_interval' in conductor_opts:  # a [DEFAULT] option
            lines.append('hash_ring_reset_interval = %s'
                         % conductor_opts.pop('hash_ring_reset_interval'))
        lines += [
            '[database]',
            'connection = %s' % url,
        ]
        if db != 'postgres':
            lines.append('sqlite_synchronous = false')
        lines += [
            '[conductor]',
            'node_locked_retry_attempts = 3',
            'node_locked_retry_interval = 1',
        ]
        lines += ['%s = %s' % kv for kv in sorted(conductor_opts.items())]
        conf_path = os.path.join(self.tmpdir, 'ironic.conf')
        with open(conf_path, 'w') as f:
            f.write('\n'.join(lines) + '\n')

        from ironic.common import service as ironic_service

        # What every Ironic command does: parse config, set up oslo.log, register objects.
        ironic_service.prepare_command(['ironic-bench', '--config-file', conf_path])
        logging.getLogger().setLevel(getattr(logging, log_level))

        from ironic.conf import CONF
        from ironic.db.sqlalchemy import migration

        self.CONF = CONF
        if create_schema:
            t0 = time.perf_counter()
            # = ironic-dbsync create_schema = tests/unit/db/base.py (create_all + stamp head)
            migration.create_schema()
            log('schema created in %.2f s on %s' % (time.perf_counter() - t0, redact(url)))

        # Imported only now: its periodic decorators read the configuration at import time
        # (ironic/cmd/conductor.py asserts the same ordering).
        from futurist import periodics
        from ironic.conductor import manager

        self.manager = manager.ConductorManager(host, 'ironic.conductor_manager')
        if periodics_on:
            self.manager.prepare_host()
            self.manager.init_host()
        else:
            with mock.patch.object(periodics, 'PeriodicWorker', autospec=True):
                self.manager.prepare_host()
                self.manager.init_host()

        from ironic.common import context as ironic_context
        from ironic.common import exception
        from ironic.conductor import task_manager
        from ironic import objects

        self.context = ironic_context.get_admin_context()
        self.exception = exception
        self.task_manager = task_manager
        self.objects = objects
        self.url = url
        self._mac = 0
        self._nodes = 0

    def node(self, provision_state=None, ports=0):
        """Create a fake-hardware node the way the API does (objects.Node.create)."""
        from oslo_utils import uuidutils

        self._nodes += 1
        fields = {
            'uuid': uuidutils.generate_uuid(),
            # unique over the conductors sharing a PostgreSQL database
            'name': '%s-%d' % ('bench' if self.host == HOST else self.host, self._nodes),
            'driver': 'fake-hardware',
            'power_state': 'power off',
        }
        if provision_state is not None:
            fields['provision_state'] = provision_state
        node = self.objects.Node(self.context, **fields)
        node.create()
        for _ in range(ports):
            self._mac += 1
            n = self._mac
            mac = ':'.join('%02x' % b for b in (0x52, 0x54, (n >> 24) & 0xff, (n >> 16) & 0xff,
                                                  (n >> 8) & 0xff, n & 0xff))
            self.objects.Port(self.context, uuid=uuidutils.generate_uuid(), node_id=node.id,
                              address=mac).create()
        return node

    def acquire(self, node_id, **kwargs):
        return self.task_manager.acquire(self.context, node_id, **kwargs)

    def stop(self):
        self.manager.del_host()


# --------------------------------------------------------------------------------------------
# scenarios (each mirrors benchmarks/scenarios/<name>.ts)


def exclusive_cycle(ir, quick):
    """with acquire(ctx, node_id, purpose='bench', load_driver=X): pass"""
    out = []
    for load_driver in (True, False):
        node = ir.node()

        def op(nid=node.id, ld=load_driver):
            with ir.acquire(nid, purpose='bench', load_driver=ld):
                pass

        out.append(loop_result('exclusive-cycle', 'loadDriver=%s' % str(load_driver).lower(),
                               closed_loop(op, loop_plan(quick))))
    return out


def shared_cycle(ir, quick):
    """with acquire(ctx, node_id, shared=True, purpose='bench', load_driver=X): pass"""
    out = []
    for load_driver in (True, False):
        node = ir.node()

        def op(nid=node.id, ld=load_driver):
            with ir.acquire(nid, shared=True, purpose='bench', load_driver=ld):
                pass

        out.append(loop_result('shared-cycle', 'loadDriver=%s' % str(load_driver).lower(),
                               closed_loop(op, loop_plan(quick))))
    return out


PORTS_PER_NODE = 2


def exclusive_ports(ir, quick):
    """with acquire(ctx, node_id, purpose='bench') as task: task.ports (2 ports)"""
    node = ir.node(ports=PORTS_PER_NODE)

    def op():
        with ir.acquire(node.id, purpose='bench') as task:
            if len(task.ports) != PORTS_PER_NODE:
                raise RuntimeError('expected %d ports, got %d' % (PORTS_PER_NODE, len(task.ports)))

    return [loop_result('exclusive-ports', 'ports=%d' % PORTS_PER_NODE,
                        closed_loop(op, loop_plan(quick)))]


# benchmarks/scenarios/process-event.ts: manageable -inspect-> inspecting -done-> manageable
PE_CYCLE = (('inspect', 'inspecting'), ('done', 'manageable'))
PE_START = 'manageable'


def process_event(ir, quick):
    out = []

    def step(task, i):
        event, to = PE_CYCLE[i % 2]
        task.process_event(event)
        if task.node.provision_state != to:
            raise RuntimeError('process-event: expected %s, got %s'
                               % (to, task.node.provision_state))

    # held-task: one exclusive task held throughout; an operation is task.process_event(ev)
    node = ir.node(provision_state=PE_START)
    counter = [0]
    with ir.acquire(node.id, purpose='bench') as task:
        def op_held():
            step(task, counter[0])
            counter[0] += 1

        measured = closed_loop(op_held, loop_plan(quick))
        if counter[0] % 2 == 1:
            op_held()
    out.append(loop_result('process-event', 'held-task', measured, {'cycle': 'inspect/done'}))

    # acquire+event+release: with acquire(ctx, node) as task: task.process_event(ev)
    node = ir.node(provision_state=PE_START)
    counter2 = [0]

    def op_cycle():
        with ir.acquire(node.id, purpose='bench') as task:
            step(task, counter2[0])
            counter2[0] += 1

    out.append(loop_result('process-event', 'acquire+event+release',
                           closed_loop(op_cycle, loop_plan(quick)), {'cycle': 'inspect/done'}))
    return out


CONTENTION_CALLERS = (2, 8, 32)


def contention(ir, quick):
    """T greenthreads on one node, each: acquire exclusive (no driver), hold for one yield to
    the eventlet hub (eventlet.sleep(0), as ours holds for one resolved await), release.
    A NodeLocked (after the default 3 attempts x 1 s) is counted and the caller goes on.
    Latency = the wait from calling acquire to being granted (granted acquisitions only, as
    ours); the waits of the failed ones are in extra."""
    NodeLocked = ir.exception.NodeLocked
    cycles_per_caller = 2 if quick else 10
    out = []
    for callers in CONTENTION_CALLERS:
        node = ir.node()
        # Uncontended warm-up (a contended one would take seconds).
        for _ in range(5 if quick else 20):
            with ir.acquire(node.id, load_driver=False, purpose='warm-up'):
                pass
        st = {
            'seq': 0, 'grants': 0, 'in_order': 0, 'max_overtakes': 0, 'node_locked': 0,
            'other': 0,
        }
        pending = set()
        waits = []
        failed_waits = []
        cycles = []
        per_caller_grants = []

        def caller(k, idx):
            mine = 0
            for _ in range(k):
                st['seq'] += 1
                seq = st['seq']
                pending.add(seq)
                t0 = time.perf_counter_ns()
                try:
                    task = ir.acquire(node.id, load_driver=False, purpose='contend')
                except NodeLocked:
                    failed_waits.append(time.perf_counter_ns() - t0)
                    pending.discard(seq)
                    st['node_locked'] += 1
                    continue
                except Exception:  # noqa: BLE001
                    pending.discard(seq)
                    st['other'] += 1
                    continue
                t1 = time.perf_counter_ns()
                pending.discard(seq)
                overtaken = sum(1 for other in pending if other < seq)
                st['grants'] += 1
                mine += 1
                if overtaken == 0:
                    st['in_order'] += 1
                st['max_overtakes'] = max(st['max_overtakes'], overtaken)
                waits.append(t1 - t0)
                with task:
                    eventlet.sleep(0)  # the "work" of the holder: one yield
                cycles.append(time.perf_counter_ns() - t0)
            per_caller_grants.append(mine)

        start = time.perf_counter_ns()
        threads = [eventlet.spawn(caller, cycles_per_caller, i) for i in range(callers)]
        for th in threads:
            th.wait()
        elapsed = time.perf_counter_ns() - start
        if st['other']:
            raise RuntimeError('contention: %d acquires failed with something other than '
                               'NodeLocked' % st['other'])
        seconds = elapsed / 1e9
        all_waits = sorted(waits + failed_waits)
        cyc = latency_us(cycles)
        fw = latency_us(failed_waits)
        out.append({
            'scenario': 'contention',
            'variant': 'T=%d' % callers,
            'ops': st['grants'],
            'seconds': round(seconds, 3),
            'opsPerSec': round(st['grants'] / seconds, 2),
            'latencyUs': latency_us(waits),
            'histogram': histogram_json(waits),
            'extra': {
                'latency': 'wait to be granted',
                'nodeLocked': st['node_locked'],
                'attempts': callers * cycles_per_caller,
                'cyclesPerCaller': cycles_per_caller,
                'callersNeverGranted': sum(1 for g in per_caller_grants if g == 0),
                'inOrder': round(st['in_order'] / max(1, st['grants']), 4),
                'maxOvertakes': st['max_overtakes'],
                'cycleP50Us': cyc['p50'],
                'cycleP99Us': cyc['p99'],
                'failedWaitP50Us': fw['p50'],
                'failedWaitMaxUs': fw['max'],
                'allWaitP50Us': percentile(all_waits, 50),
                'allWaitP99Us': percentile(all_waits, 99),
                'budget': '%dx%dms' % (ir.CONF.conductor.node_locked_retry_attempts,
                                       ir.CONF.conductor.node_locked_retry_interval * 1000),
                'hold': 'eventlet.sleep(0)',
            },
        })
        log('contention T=%d: %d granted, %d NodeLocked in %.1f s'
            % (callers, st['grants'], st['node_locked'], seconds))
    return out


SPAWN_CONCURRENCY = 64


def noop():
    """The background work: nothing."""


def spawn_after(ir, quick):
    from futurist import rejection
    from futurist import waiters
    import futurist
    from ironic.conductor import base_manager

    out = []

    # worker-spawn: BaseConductorManager._spawn_worker (executor.submit) alone, batches of 1000
    # on a pool of 1010 (ours: a WorkerSupervisor of batch + 10), drained between batches.
    batch = 1000
    batches = 1 if quick else 20
    executor = futurist.GreenThreadPoolExecutor(
        max_workers=batch + 10, check_and_reject=rejection.reject_when_reached(batch + 10))
    fake_mgr = types.SimpleNamespace(_executor=executor)
    spawn = functools.partial(base_manager.BaseConductorManager._spawn_worker, fake_mgr)
    futs = [spawn(noop) for _ in range(batch)]  # warm-up batch
    waiters.wait_for_all(futs)
    samples = []
    for _ in range(batches):
        futs = []
        for _ in range(batch):
            t0 = time.perf_counter_ns()
            futs.append(spawn(noop))
            samples.append(time.perf_counter_ns() - t0)
        waiters.wait_for_all(futs)
    executor.shutdown(wait=True)
    total = sum(samples)
    out.append({
        'scenario': 'spawn-after', 'variant': 'worker-spawn', 'ops': len(samples),
        'seconds': round(total / 1e9, 3), 'opsPerSec': round(len(samples) / (total / 1e9), 2),
        'latencyUs': latency_us(samples),
        'histogram': histogram_json(samples),
        'extra': {'what': 'BaseConductorManager._spawn_worker call only (GreenThreadPoolExecutor'
                          '.submit, pool %d)' % (batch + 10)},
    })

    mgr = ir.manager

    # The same task with the caller waiting for the lease to be released (done-callback) instead
    # of retrying the lock: what Ironic's own code would do if it waited for the worker.
    def task_wait_release(nid):
        holder = {}

        def spawner(func, *args, **kwargs):
            holder['fut'] = mgr._spawn_worker(func, *args, **kwargs)
            return holder['fut']

        with ir.acquire(nid, patient=True, purpose='bench') as task:
            task.spawn_after(spawner, noop)
        released = eventlet.event.Event()
        # Added after TaskManager's own _thread_release_resources, so it runs after the release.
        holder['fut'].add_done_callback(lambda _f: released.send(True))
        released.wait()

    # tasks c=1: withTask(patient) { spawnAfter(noop) } in a loop; the next acquire waits for the
    # previous worker to release the lock. Latency = acquire -> scope exit.
    node = ir.node()

    def one_task(nid=node.id):
        with ir.acquire(nid, patient=True, purpose='bench') as task:
            task.spawn_after(mgr._spawn_worker, noop)

    measured = closed_loop(one_task, loop_plan(quick, min_ops=2 if quick else 5))
    # Let the last worker release before the next measure.
    eventlet.sleep(0.01)
    alt = closed_loop(functools.partial(task_wait_release, node.id), loop_plan(quick))
    alt_res = loop_result('x', 'x', alt)
    out.append(loop_result('spawn-after', 'tasks c=1', measured, {
        'latency': 'acquire -> worker spawned',
        'note': 'the next patient acquire finds the lock still held (eventlet runs the worker only '
                'when the caller yields) and sleeps node_locked_retry_interval',
        'waitForReleaseOpsPerSec': alt_res['opsPerSec'],
        'waitForReleaseP50Us': alt_res['latencyUs']['p50'],
        'waitForReleaseP99Us': alt_res['latencyUs']['p99'],
    }))

    # tasks c=64: 64 greenthreads, one node each; tasks/s counts until the last worker released.
    nodes = [ir.node() for _ in range(SPAWN_CONCURRENCY)]
    in_flight = {'n': 0}

    def tracked_spawner(func, *args, **kwargs):
        fut = mgr._spawn_worker(func, *args, **kwargs)
        in_flight['n'] += 1
        return fut

    def phase(total, record, samples, wait_release):
        state = {'next': 0, 'joined': False}
        idle = eventlet.event.Event()

        def on_released(_f):
            in_flight['n'] -= 1
            if in_flight['n'] == 0 and state['joined'] and not idle.ready():
                idle.send(True)

        def caller(nid):
            while state['next'] < total:
                state['next'] += 1
                t0 = time.perf_counter_ns()
                holder = {}

                def spawner(func, *args, **kwargs):
                    holder['fut'] = tracked_spawner(func, *args, **kwargs)
                    return holder['fut']

                with ir.acquire(nid, patient=True, purpose='bench') as task:
                    task.spawn_after(spawner, noop)
                if record:
                    samples.append(time.perf_counter_ns() - t0)
                released = eventlet.event.Event() if wait_release else None

                def done(f, released=released):
                    on_released(f)
                    if released is not None:
                        released.send(True)

                holder['fut'].add_done_callback(done)
                if released is not None:
                    released.wait()

        start = time.perf_counter_ns()
        threads = [eventlet.spawn(caller, n.id) for n in nodes]
        for th in threads:
            th.wait()
        state['joined'] = True
        if in_flight['n'] > 0:
            idle.wait()  # the last workers released their leases
        return (time.perf_counter_ns() - start) / 1e9

    per_round = SPAWN_CONCURRENCY if quick else 4 * SPAWN_CONCURRENCY
    rounds = 1 if quick else 2
    phase(SPAWN_CONCURRENCY, False, [], False)  # warm-up
    samples = []
    rates = []
    seconds = 0.0
    for _ in range(rounds):
        s = phase(per_round, True, samples, False)
        seconds += s
        rates.append(per_round / s)
    alt_samples = []
    alt_rates = []
    for _ in range(rounds):
        s = phase(per_round, True, alt_samples, True)
        alt_rates.append(per_round / s)
    extra = {
        'latency': 'acquire -> worker spawned',
        'tasksPerRound': per_round,
        'workersPoolSize': ir.CONF.conductor.workers_pool_size,
        'waitForReleaseOpsPerSec': round(statistics.median(alt_rates), 2),
        'waitForReleaseP99Us': latency_us(alt_samples)['p99'],
    }
    extra.update(rates_extra(rates))
    out.append({
        'scenario': 'spawn-after', 'variant': 'tasks c=%d' % SPAWN_CONCURRENCY,
        'ops': per_round * rounds, 'seconds': round(seconds, 3),
        'opsPerSec': round(statistics.median(rates), 2), 'latencyUs': latency_us(samples),
        'histogram': histogram_json(samples),
        'extra': extra,
    })
    return out


RUNNERS = {
    'exclusive-cycle': exclusive_cycle,
    'shared-cycle': shared_cycle,
    'exclusive-ports': exclusive_ports,
    'process-event': process_event,
    'contention': contention,
    'spawn-after': spawn_after,
}


# --------------------------------------------------------------------------------------------
# PostgreSQL, several processes: --worker (each process is one conductor with its own CONF.host;
# benchmarks/ironic/postgres.ts starts 1..N of them against the same database and drives them)
#
# Protocol: one JSON object per line. The worker prints {"ready": ...} once its conductor is up,
# then reads commands on stdin and answers each with one line on stdout. The coordinator sends a
# command to all workers of a phase at the same moment (that is the start barrier) and waits for
# every answer before the next command. stdin is read through the eventlet hub, so the
# conductor's keepalive (heartbeat) and periodic greenthreads keep running while a worker waits.


class Commands:
    """The line reader on stdin (non-blocking, through eventlet's hub) and the replies."""

    def __init__(self, out):
        self.out = out
        self.fd = sys.stdin.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b''

    def read(self):
        from eventlet import hubs

        while b'\n' not in self.buf:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                hubs.trampoline(self.fd, read=True)
                continue
            if not chunk:
                return None  # the coordinator went away
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def reply(self, obj):
        self.out.write(json.dumps(obj) + '\n')
        self.out.flush()


def w_exclusive_cycle(ir, state, cmd):
    """The exclusive-cycle scenario (loadDriver=false, ours' cluster figure) on this process's own
    node; raw samples are returned so that the coordinator can merge the percentiles."""
    if 'own_node' not in state:
        state['own_node'] = ir.node().id
    nid = state['own_node']
    load_driver = bool(cmd.get('loadDriver', False))

    def op():
        with ir.acquire(nid, purpose='bench', load_driver=load_driver):
            pass

    samples, rates, total_ns = closed_loop(op, loop_plan(bool(cmd.get('quick'))))
    res = loop_result('exclusive-cycle', 'loadDriver=%s' % str(load_driver).lower(),
                      (samples, rates, total_ns))
    res['samplesNs'] = samples
    res['rates'] = [round(r, 2) for r in rates]
    return res


def w_contention(ir, state, cmd):
    """`callers` greenthreads of this process on the shared node `node`, each `cycles` times:
    acquire exclusive (no driver, default budget), one eventlet.sleep(0), release, exactly as the
    single-process contention scenario. Raw waits are returned for merged percentiles."""
    NodeLocked = ir.exception.NodeLocked
    node = cmd['node']
    callers = int(cmd['callers'])
    cycles_per_caller = int(cmd['cycles'])
    st = {'grants': 0, 'node_locked': 0, 'other': 0}
    waits = []
    failed_waits = []
    cycles = []
    per_caller = []

    def caller():
        mine = 0
        for _ in range(cycles_per_caller):
            t0 = time.perf_counter_ns()
            try:
                task = ir.acquire(node, load_driver=False, purpose='contend')
            except NodeLocked:
                failed_waits.append(time.perf_counter_ns() - t0)
                st['node_locked'] += 1
                continue
            except Exception as e:  # noqa: BLE001
                log('contention: %s: %s' % (type(e).__name__, e))
                st['other'] += 1
                continue
            waits.append(time.perf_counter_ns() - t0)
            st['grants'] += 1
            mine += 1
            with task:
                eventlet.sleep(0)
            cycles.append(time.perf_counter_ns() - t0)
        per_caller.append(mine)

    start = time.perf_counter_ns()
    threads = [eventlet.spawn(caller) for _ in range(callers)]
    for th in threads:
        th.wait()
    seconds = (time.perf_counter_ns() - start) / 1e9
    return {
        'callers': callers, 'cyclesPerCaller': cycles_per_caller, 'attempts': callers * cycles_per_caller,
        'grants': st['grants'], 'nodeLocked': st['node_locked'], 'other': st['other'],
        'seconds': round(seconds, 3), 'callersNeverGranted': sum(1 for g in per_caller if g == 0),
        'waitsNs': waits, 'failedWaitsNs': failed_waits, 'cyclesNs': cycles,
    }


def w_hold(ir, state, cmd):
    """Take the exclusive lock of `node` and keep it (the process is then SIGKILLed)."""
    task = ir.acquire(cmd['node'], load_driver=False, purpose='victim')
    state['held'] = task  # never released: the coordinator kills this process
    return {'held': task.node.uuid, 'reservation': task.node.reservation}


def w_takeover(ir, state, cmd):
    """Right after the holder was SIGKILLed: poll the node's reservation every 50 ms until it is
    cleared (Ironic's _check_orphan_nodes periodic on this conductor, once the holder's conductor
    row is older than heartbeat_timeout and the hash ring maps the node here), then acquire it.
    Times are from the receipt of this command (= the kill, within a pipe write)."""
    from oslo_utils import timeutils

    t0 = time.perf_counter_ns()
    victim = cmd['victim']
    try:
        hb = ir.manager.dbapi.get_conductor(victim, online=None).updated_at
        hb_age = (timeutils.utcnow() - hb).total_seconds() if hb is not None else None
    except Exception as e:  # noqa: BLE001
        log('takeover: conductor row of %s: %s' % (victim, e))
        hb_age = None
    deadline = t0 + int(float(cmd.get('timeout', 600)) * 1e9)
    cleared_ns = None
    while time.perf_counter_ns() < deadline:
        node = ir.objects.Node.get_by_uuid(ir.context, cmd['node'])
        if node.reservation is None:
            cleared_ns = time.perf_counter_ns() - t0
            break
        eventlet.sleep(0.05)
    if cleared_ns is None:
        return {'error': 'reservation of %s not cleared within %s s' % (victim, cmd.get('timeout', 600))}
    with ir.acquire(cmd['node'], load_driver=False, purpose='takeover'):
        granted_ns = time.perf_counter_ns() - t0
    return {
        'clearedS': round(cleared_ns / 1e9, 3), 'grantedS': round(granted_ns / 1e9, 3),
        'victimHeartbeatAgeAtKillS': None if hb_age is None else round(hb_age, 3),
    }


WORKER_COMMANDS = {
    'exclusive-cycle': w_exclusive_cycle,
    'contention': w_contention,
    'hold': w_hold,
    'takeover': w_takeover,
    'create-node': lambda ir, state, cmd: {'node': ir.node().uuid},
}


def worker_config(ir, args):
    c = ir.CONF.conductor
    return {
        'host': ir.host,
        'database': redact(ir.url),
        'periodicTasks': args.periodics,
        'nodeLockedRetryAttempts': c.node_locked_retry_attempts,
        'nodeLockedRetryInterval': c.node_locked_retry_interval,
        'heartbeatInterval': c.heartbeat_interval,
        'heartbeatTimeout': c.heartbeat_timeout,
        'checkProvisionStateInterval': c.check_provision_state_interval,
        'hashRingResetInterval': ir.CONF.hash_ring_reset_interval,
        'workersPoolSize': c.workers_pool_size,
        'dbMaxPoolSize': ir.CONF.database.max_pool_size,
        'dbMaxOverflow': ir.CONF.database.max_overflow,
    }


def worker_main(args, out):
    cmds = Commands(out)
    tmpdir = tempfile.mkdtemp(prefix='ironic-bench-')
    opts = dict(kv.split('=', 1) for kv in args.conf or [])
    ir = None
    try:
        t0 = time.perf_counter()
        ir = Ironic(tmpdir, 'postgres', args.periodics, args.log_level, db_url=args.db_url,
                    host=args.host, conductor_opts=opts, create_schema=False)
        cmds.reply({'ready': True, 'pid': os.getpid(), 'setupSeconds': round(time.perf_counter() - t0, 2),
                    'config': worker_config(ir, args), 'versions': versions()})
        state = {}
        while True:
            cmd = cmds.read()
            if cmd is None or cmd.get('cmd') == 'quit':
                break
            try:
                cmds.reply({'ok': WORKER_COMMANDS[cmd['cmd']](ir, state, cmd)})
            except Exception as e:  # noqa: BLE001
                log('%s: %s: %s' % (cmd.get('cmd'), type(e).__name__, e))
                cmds.reply({'error': '%s: %s' % (type(e).__name__, e)})
    finally:
        if ir is not None:
            ir.stop()  # del_host: clears this conductor's reservations, deregisters it
        shutil.rmtree(tmpdir, ignore_errors=True)
    cmds.reply({'bye': True})
    return 0


def create_schema_main(args, out):
    """--db postgres --create-schema: Ironic's schema on the (empty) database, as
    `ironic-dbsync create_schema` (create_all + stamp head); no conductor."""
    from ironic.common import service as ironic_service

    tmpdir = tempfile.mkdtemp(prefix='ironic-bench-')
    try:
        url = ironic_pg_url(args.db_url)
        conf_path = os.path.join(tmpdir, 'ironic.conf')
        with open(conf_path, 'w') as f:
            f.write('[DEFAULT]\nhost = bench-schema\n[database]\nconnection = %s\n' % url)
        ironic_service.prepare_command(['ironic-bench', '--config-file', conf_path])
        logging.getLogger().setLevel(getattr(logging, args.log_level))
        from ironic.db.sqlalchemy import migration

        t0 = time.perf_counter()
        migration.create_schema()
        seconds = time.perf_counter() - t0
        log('schema created in %.2f s on %s' % (seconds, redact(url)))
        out.write(json.dumps({'schema': 'migration.create_schema() (ironic-dbsync create_schema)',
                              'seconds': round(seconds, 2), 'database': redact(url),
                              'versions': versions()}) + '\n')
        out.flush()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


def versions():
    from importlib import metadata

    def v(dist):
        try:
            return metadata.version(dist)
        except Exception:  # noqa: BLE001
            return 'unknown'

    deb = 'unknown'
    try:
        import subprocess
        deb = subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'python3-ironic'],
                             capture_output=True, text=True, check=False).stdout.strip() or deb
    except Exception:  # noqa: BLE001
        pass
    return {
        'python': platform.python_version(),
        'pythonExecutable': sys.executable,
        'ironic': v('ironic'),
        'debianPackage': 'python3-ironic ' + deb,
        'sqlalchemy': v('SQLAlchemy'),
        'oslo.db': v('oslo.db'),
        'eventlet': v('eventlet'),
        'futurist': v('futurist'),
        'tenacity': v('tenacity'),
        'psycopg2': v('psycopg2'),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', help='smoke run: a fraction of a second per variant')
    ap.add_argument('--scenario', action='append', choices=SCENARIOS,
                    help='scenario to run (repeatable; default: all)')
    ap.add_argument('--db', choices=('memory', 'file', 'postgres'), default='memory')
    ap.add_argument('--db-url', help='--db postgres: postgres://user:pass@host:port/db '
                    '(or postgresql+psycopg2://...)')
    ap.add_argument('--create-schema', action='store_true',
                    help='--db postgres: create Ironic\'s schema on the database and exit')
    ap.add_argument('--worker', action='store_true',
                    help='--db postgres: one conductor driven by commands on stdin (postgres.ts)')
    ap.add_argument('--host', default=HOST, help='CONF.host of this conductor')
    ap.add_argument('--conf', action='append', metavar='OPTION=VALUE',
                    help='extra [conductor] option (hash_ring_reset_interval goes to [DEFAULT])')
    ap.add_argument('--periodics', action='store_true', help='run the conductor periodic tasks')
    ap.add_argument('--log-level', default='WARNING',
                    choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'))
    args = ap.parse_args(argv)

    # stdout carries exactly one JSON object: anything printed by libraries goes to stderr.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    if args.db == 'postgres':
        if args.create_schema:
            return create_schema_main(args, real_stdout)
        if args.worker:
            return worker_main(args, real_stdout)
    elif args.create_schema or args.worker:
        ap.error('--create-schema and --worker need --db postgres')

    tmpdir = tempfile.mkdtemp(prefix='ironic-bench-')
    results = []
    try:
        t0 = time.perf_counter()
        ir = Ironic(tmpdir, args.db, args.periodics, args.log_level, db_url=args.db_url,
                    host=args.host)
        setup_s = time.perf_counter() - t0
        log('Ironic %s conductor %r up in %.2f s (db %s)'
            % (versions()['ironic'], ir.host, setup_s, redact(ir.url)))
        try:
            for name in args.scenario or SCENARIOS:
                t = time.perf_counter()
                results.extend(RUNNERS[name](ir, args.quick))
                log('%s done in %.1f s' % (name, time.perf_counter() - t))
        finally:
            ir.stop()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    meta = {
        'versions': versions(),
        'config': {
            'database': redact(ir.url),
            'db': args.db,
            'schema': 'migration.create_schema() (ironic-dbsync create_schema)',
            'sqliteSynchronous': None if args.db == 'postgres' else False,
            'host': ir.host,
            'enabledHardwareTypes': ['fake-hardware'],
            'interfaces': 'fake (network, storage: noop)',
            'nodeLockedRetryAttempts': ir.CONF.conductor.node_locked_retry_attempts,
            'nodeLockedRetryInterval': ir.CONF.conductor.node_locked_retry_interval,
            'workersPoolSize': ir.CONF.conductor.workers_pool_size,
            'executor': 'futurist.GreenThreadPoolExecutor (eventlet, monkey-patched)',
            'periodicTasks': args.periodics,
            'logLevel': args.log_level,
            'notificationLevel': ir.CONF.notification_level,
        },
        'setupSeconds': round(setup_s, 2),
        'quick': args.quick,
    }
    real_stdout.write(json.dumps({'meta': meta, 'results': results}) + '\n')
    real_stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
