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

    /usr/bin/python3 benchmarks/ironic/driver.py [--quick] [--scenario NAME ...] [--db memory|file]
        [--periodics] [--log-level WARNING]
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
        'extra': out,
    }


# --------------------------------------------------------------------------------------------
# Ironic set-up


class Ironic:
    """A configured Ironic 21.4 conductor in this process, on sqlite, with fake-hardware."""

    def __init__(self, tmpdir, db, periodics_on, log_level):
        from ironic.drivers import base as drivers_base

        self.tmpdir = tmpdir
        if db == 'memory':
            url = 'sqlite://'
        else:
            url = 'sqlite:///' + os.path.join(self.tmpdir, 'ironic.sqlite')
        lines = [
            '[DEFAULT]',
            'host = %s' % HOST,
            'enabled_hardware_types = fake-hardware',
            # ironic-conductor refuses rpc_transport=none; json-rpc keeps oslo.messaging quiet
            # (nothing here sends RPC: the TaskManager is called in-process).
            'rpc_transport = json-rpc',
        ]
        for iface in drivers_base.ALL_INTERFACES:
            impl = 'noop' if iface in ('network', 'storage') else 'fake'
            lines.append('enabled_%s_interfaces = %s' % (iface, impl))
        lines += [
            '[database]',
            'connection = %s' % url,
            'sqlite_synchronous = false',
            '[conductor]',
            'node_locked_retry_attempts = 3',
            'node_locked_retry_interval = 1',
        ]
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
        t0 = time.perf_counter()
        # = ironic-dbsync create_schema = tests/unit/db/base.py (create_all + stamp head)
        migration.create_schema()
        log('schema created in %.2f s on %s' % (time.perf_counter() - t0, url))

        # Imported only now: its periodic decorators read the configuration at import time
        # (ironic/cmd/conductor.py asserts the same ordering).
        from futurist import periodics
        from ironic.conductor import manager

        self.manager = manager.ConductorManager(HOST, 'ironic.conductor_manager')
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
            'name': 'bench-%d' % self._nodes,
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
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', help='smoke run: a fraction of a second per variant')
    ap.add_argument('--scenario', action='append', choices=SCENARIOS,
                    help='scenario to run (repeatable; default: all)')
    ap.add_argument('--db', choices=('memory', 'file'), default='memory')
    ap.add_argument('--periodics', action='store_true', help='run the conductor periodic tasks')
    ap.add_argument('--log-level', default='WARNING',
                    choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'))
    args = ap.parse_args(argv)

    # stdout carries exactly one JSON object: anything printed by libraries goes to stderr.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr

    tmpdir = tempfile.mkdtemp(prefix='ironic-bench-')
    results = []
    try:
        t0 = time.perf_counter()
        ir = Ironic(tmpdir, args.db, args.periodics, args.log_level)
        setup_s = time.perf_counter() - t0
        log('Ironic %s conductor %r up in %.2f s (db %s)'
            % (versions()['ironic'], HOST, setup_s, ir.url))
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
            'database': ir.url,
            'db': args.db,
            'schema': 'migration.create_schema() (ironic-dbsync create_schema)',
            'sqliteSynchronous': False,
            'host': HOST,
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
