/**
 * The five wait-timeout periodics (reference §5.6) against a real Conductor: which nodes are
 * picked (timed out, unreserved, not in maintenance), the exact provision state, target and
 * last_error each ends with after its callback ran in a worker, the per-run cap
 * (periodicMaxWorkers), skipping locked/deleted/changed nodes, and NoFreeConductorWorker ending the run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminContext } from '../../src/context.js';
import { NoFreeConductorWorker } from '../../src/errors.js';
import type { NodeRecord } from '../../src/node.js';
import {
  CLEAN_FAILURE,
  FAULT_KEY,
  INSPECT_TIMEOUT_MESSAGE,
  RESCUE_TIMEOUT_MESSAGE,
  runWaitTimeoutCheck,
  runWaitTimeoutChecks,
  SERVICE_FAILURE,
  WAIT_TIMEOUT_CHECKS,
  waitTimeoutCheck,
  type PeriodicPort,
} from '../../src/periodics/index.js';
import { NO_FREE_WORKERS_MESSAGE } from '../../src/task/error-handlers.js';
import { assertUntouched, OTHER_HOST, reservations, TIMEOUT_MS, withFixture } from './fixture.js';
import type { ProvisionState } from '../../src/states/provision-states.js';

const TIMED_OUT = TIMEOUT_MS + 1000;
const RECENT = TIMEOUT_MS - 60_000;

const deployText = (uuid: string): string => `Timeout reached while waiting for callback for node ${uuid}`;
const cleanText = (step: string): string =>
  'Timeout reached while cleaning the node. Please check if the ramdisk responsible for the cleaning is running on ' +
  `the node. Failed on step ${step}.`;
const serviceText = (step: string): string =>
  'Timeout reached while servicing the node. Please check if the ramdisk responsible for the servicing is running on ' +
  `the node. Failed on step ${step}.`;

describe('wait-timeout checks: the catalogue', () => {
  it("has Ironic's five checks with their options, defaults, transitions and keep-target flags", async () => {
    const rows = WAIT_TIMEOUT_CHECKS.map((c) => [
      c.name,
      c.waitState,
      c.failState,
      c.ironicTimeoutOption,
      c.timeoutOption,
      c.ironicIntervalOption,
      c.intervalOption,
      c.keepTargetState,
      c.callback.name,
      c.errHandler?.name ?? null,
    ]);
    assert.deepEqual(rows, [
      [
        'deploy',
        'wait call-back',
        'deploy failed',
        'deploy_callback_timeout',
        'deployCallbackTimeout',
        'check_provision_state_interval',
        'checkProvisionStateInterval',
        false,
        'cleanupAfterTimeout',
        'provisioningErrorHandler',
      ],
      [
        'clean',
        'clean wait',
        'clean failed',
        'clean_callback_timeout',
        'cleanCallbackTimeout',
        'check_provision_state_interval',
        'checkProvisionStateInterval',
        true,
        'cleanupCleanwaitTimeout',
        null,
      ],
      [
        'inspect',
        'inspect wait',
        'inspect failed',
        'inspect_wait_timeout',
        'inspectWaitTimeout',
        'check_provision_state_interval',
        'checkProvisionStateInterval',
        false,
        'cleanupInspectwaitTimeout',
        'provisioningErrorHandler',
      ],
      [
        'rescue',
        'rescue wait',
        'rescue failed',
        'rescue_callback_timeout',
        'rescueCallbackTimeout',
        'check_rescue_state_interval',
        'checkRescueStateInterval',
        true,
        'cleanupRescuewaitTimeout',
        null,
      ],
      [
        'service',
        'service wait',
        'service failed',
        'service_callback_timeout',
        'serviceCallbackTimeout',
        'check_provision_state_interval',
        'checkProvisionStateInterval',
        true,
        'cleanupServicewaitTimeout',
        null,
      ],
    ]);
    await withFixture({}, async ({ conductor }) => {
      for (const check of WAIT_TIMEOUT_CHECKS) {
        assert.equal(conductor.config[check.timeoutOption], 1_800_000, `${check.name}: default timeout 1800 s`);
        assert.equal(conductor.config[check.intervalOption], 60_000, `${check.name}: default interval 60 s`);
      }
    });
  });
});

describe('wait-timeout checks: deploy (wait call-back)', () => {
  it("fails only timed-out, unreserved, non-maintenance nodes; the callback records Ironic's text and wipes deploy bookkeeping", async () => {
    await withFixture({}, async ({ conductor, port, store, createNode, read, reserve }) => {
      const deployInfo = {
        deploy_step: { interface: 'deploy', step: 'write_image', priority: 80 },
        deploy_steps: [{ interface: 'deploy', step: 'write_image', priority: 80 }],
        deploy_step_index: 0,
        user_deploy_steps: [],
        steps_validated: true,
        deployment_reboot: true,
        agent_url: 'http://10.0.0.5:9999',
        agent_secret_token: 'secret',
        agent_verify_ca: '/tmp/ca.crt',
        is_whole_disk_image: true,
      };
      const timedOut = await createNode(
        {
          provision_state: 'wait call-back',
          target_provision_state: 'active',
          last_error: 'an older error',
          driver_internal_info: deployInfo,
        },
        TIMED_OUT,
      );
      const recent = await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, RECENT);
      const inMaintenance = await createNode(
        { provision_state: 'wait call-back', target_provision_state: 'active', maintenance: true, maintenance_reason: 'hands off' },
        TIMED_OUT,
      );
      const lockedElsewhere = await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, TIMED_OUT);
      await reserve(lockedElsewhere, OTHER_HOST);
      const otherState = await createNode({ provision_state: 'clean wait', target_provision_state: 'available' }, TIMED_OUT);
      const before = await Promise.all([recent, inMaintenance, lockedElsewhere, otherState].map(read));

      const report = await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port);
      await conductor.onIdle();

      assert.equal(report.check, 'deploy');
      assert.equal(report.enabled, true);
      assert.equal(report.candidates, 1);
      assert.deepEqual(report.failed, [timedOut.uuid]);
      assert.equal(report.stoppedNoWorkers, false);
      assert.deepEqual(report.errors, []);

      const after = await read(timedOut);
      assert.equal(after.provision_state, 'deploy failed');
      assert.equal(after.target_provision_state, 'active');
      assert.equal(after.last_error, deployText(timedOut.uuid));
      assert.equal(after.reservation, null);
      assert.deepEqual(after.driver_internal_info, { deploy_step: {}, deploy_steps: null, is_whole_disk_image: true });

      for (const [i, node] of [recent, inMaintenance, lockedElsewhere, otherState].entries()) {
        assertUntouched(await read(node), before[i] as NodeRecord, `node ${i}`);
      }
      assert.deepEqual(await reservations(store), { [lockedElsewhere.uuid]: OTHER_HOST });
    });
  });

  it('records a failing deploy clean-up after the timeout text (Ironic deploying_error_handler)', async () => {
    await withFixture({ fakeBehaviour: { failOperations: { 'deploy.cleanUp': 1 } } }, async ({ conductor, port, createNode, read }) => {
      const node = await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, TIMED_OUT);
      const report = await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port);
      await conductor.onIdle();
      assert.deepEqual(report.failed, [node.uuid]);
      const after = await read(node);
      assert.equal(after.provision_state, 'deploy failed');
      assert.equal(after.last_error, `${deployText(node.uuid)}. Also failed to clean up due to: fake deploy.cleanUp failed (injected)`);
      assert.equal(after.reservation, null);
    });
  });

  it('does not keep the target: deploy failed takes the state machine default', async () => {
    await withFixture({}, async ({ conductor, port, createNode, read }) => {
      // Synthetic target, only to tell "kept" from "machine default" apart.
      const node = await createNode({ provision_state: 'wait call-back', target_provision_state: 'manageable' }, TIMED_OUT);
      await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port);
      await conductor.onIdle();
      const after = await read(node);
      assert.equal(after.provision_state, 'deploy failed');
      assert.equal(after.target_provision_state, 'active');
    });
  });

  it('treats a node updated exactly `timeout` ago as not timed out (strictly older only)', async () => {
    await withFixture({}, async ({ conductor, port, createNode, read }) => {
      const edge = await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, TIMEOUT_MS);
      const past = await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, TIMEOUT_MS + 1);
      const report = await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port);
      await conductor.onIdle();
      assert.deepEqual(report.failed, [past.uuid]);
      assert.equal((await read(edge)).provision_state, 'wait call-back');
    });
  });

  it('follows the injected clock: the same node times out once the clock has moved past the timeout', async () => {
    await withFixture({}, async ({ conductor, clock, port, createNode, read }) => {
      const node = await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, 0);
      assert.deepEqual((await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port)).failed, []);
      await clock.advance(TIMEOUT_MS + 1);
      assert.deepEqual((await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port)).failed, [node.uuid]);
      await conductor.onIdle();
      assert.equal((await read(node)).provision_state, 'deploy failed');
    });
  });

  it('does nothing when the timeout is 0 (Ironic: the periodic is disabled)', async () => {
    await withFixture({ deployCallbackTimeout: 0 }, async ({ conductor, port, createNode, read }) => {
      const node = await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, TIMED_OUT * 100);
      const before = await read(node);
      const report = await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port);
      await conductor.onIdle();
      assert.equal(report.enabled, false);
      assert.equal(report.candidates, 0);
      assertUntouched(await read(node), before, 'disabled check');
    });
  });
});

describe('wait-timeout checks: clean (clean wait)', () => {
  it('keeps the target, records the running step, and sets maintenance and the clean failure fault when a step was running', async () => {
    await withFixture({}, async ({ conductor, port, createNode, read }) => {
      const automated = await createNode(
        {
          provision_state: 'clean wait',
          target_provision_state: 'available',
          driver_internal_info: {
            clean_step: { interface: 'deploy', step: 'erase_devices', priority: 10, abortable: true, args: {} },
            clean_steps: [{ interface: 'deploy', step: 'erase_devices' }],
            clean_step_index: 0,
            cleaning_reboot: true,
            cleaning_polling: true,
            skip_current_clean_step: false,
            agent_url: 'http://10.0.0.6:9999',
            agent_secret_token: 'secret',
            agent_secret_token_pregenerated: true,
          },
        },
        TIMED_OUT,
      );
      const manualNoStep = await createNode({ provision_state: 'clean wait', target_provision_state: 'manageable' }, TIMED_OUT);
      const emptyStep = await createNode(
        { provision_state: 'clean wait', target_provision_state: 'available', driver_internal_info: { clean_step: {} } },
        TIMED_OUT,
      );
      const manualWithStep = await createNode(
        {
          provision_state: 'clean wait',
          target_provision_state: 'manageable',
          maintenance_reason: 'an earlier reason',
          driver_internal_info: { clean_step: { interface: 'raid', step: 'delete_configuration' } },
        },
        TIMED_OUT,
      );
      const recent = await createNode({ provision_state: 'clean wait', target_provision_state: 'available' }, RECENT);
      const recentBefore = await read(recent);

      const report = await runWaitTimeoutCheck(waitTimeoutCheck('clean'), port);
      await conductor.onIdle();
      assert.deepEqual(report.failed, [automated.uuid, manualNoStep.uuid, emptyStep.uuid, manualWithStep.uuid]);

      const a = await read(automated);
      const aText = cleanText("{'interface': 'deploy', 'step': 'erase_devices', 'priority': 10, 'abortable': True, 'args': {}}");
      assert.equal(a.provision_state, 'clean failed');
      assert.equal(a.target_provision_state, 'available');
      assert.equal(a.last_error, aText);
      assert.equal(a.maintenance, true);
      assert.equal(a.maintenance_reason, aText);
      assert.deepEqual(a.driver_internal_info, {
        clean_step: {},
        clean_steps: [{ interface: 'deploy', step: 'erase_devices' }],
        [FAULT_KEY]: CLEAN_FAILURE,
      });
      assert.equal(a.reservation, null);

      const m = await read(manualNoStep);
      assert.equal(m.provision_state, 'clean failed');
      assert.equal(m.target_provision_state, 'manageable', 'manual cleaning keeps its target');
      assert.equal(m.last_error, cleanText('None'));
      assert.equal(m.maintenance, false);
      assert.equal(m.maintenance_reason, null);
      assert.deepEqual(m.driver_internal_info, { clean_step: {} });

      const e = await read(emptyStep);
      assert.equal(e.provision_state, 'clean failed');
      assert.equal(e.target_provision_state, 'available');
      assert.equal(e.last_error, cleanText('{}'));
      assert.equal(e.maintenance, false);

      const w = await read(manualWithStep);
      assert.equal(w.provision_state, 'clean failed');
      assert.equal(w.target_provision_state, 'manageable');
      assert.equal(w.last_error, cleanText("{'interface': 'raid', 'step': 'delete_configuration'}"));
      assert.equal(w.maintenance, true);
      assert.equal(w.maintenance_reason, 'an earlier reason', 'an existing maintenance reason is not overwritten');
      assert.equal(w.driver_internal_info[FAULT_KEY], CLEAN_FAILURE);

      assertUntouched(await read(recent), recentBefore, 'recent clean wait node');
    });
  });

  it('appends a failed tear-down to the error (Ironic cleaning_error_handler)', async () => {
    await withFixture(
      { fakeBehaviour: { failOperations: { 'deploy.tearDownCleaning': 1 } } },
      async ({ conductor, port, createNode, read }) => {
        const node = await createNode({ provision_state: 'clean wait', target_provision_state: 'available' }, TIMED_OUT);
        await runWaitTimeoutCheck(waitTimeoutCheck('clean'), port);
        await conductor.onIdle();
        const after = await read(node);
        assert.equal(after.provision_state, 'clean failed');
        assert.equal(
          after.last_error,
          `${cleanText('None')}. Also Failed to tear down cleaning on node ${node.uuid}, reason: fake deploy.tearDownCleaning failed (injected)`,
        );
      },
    );
  });
});

describe('wait-timeout checks: inspect, rescue, service', () => {
  it("inspect wait → inspect failed with Ironic's inspection timeout text; the agent token and URL are wiped", async () => {
    await withFixture({}, async ({ conductor, port, createNode, read }) => {
      const node = await createNode(
        {
          provision_state: 'inspect wait',
          target_provision_state: 'manageable',
          driver_internal_info: { agent_url: 'http://10.0.0.7:9999', agent_secret_token: 't', lookup_bmc_addresses: ['10.1.1.1'] },
        },
        TIMED_OUT,
      );
      const recent = await createNode({ provision_state: 'inspect wait', target_provision_state: 'manageable' }, RECENT);
      const recentBefore = await read(recent);
      const report = await runWaitTimeoutCheck(waitTimeoutCheck('inspect'), port);
      await conductor.onIdle();
      assert.deepEqual(report.failed, [node.uuid]);
      const after = await read(node);
      assert.equal(after.provision_state, 'inspect failed');
      assert.equal(after.target_provision_state, 'manageable');
      assert.equal(after.last_error, INSPECT_TIMEOUT_MESSAGE);
      assert.equal(after.last_error, 'timeout reached while inspecting the node');
      assert.deepEqual(after.driver_internal_info, { lookup_bmc_addresses: ['10.1.1.1'] });
      assert.equal(after.reservation, null);
      assertUntouched(await read(recent), recentBefore, 'recent inspect wait node');
    });
  });

  it("rescue wait → rescue failed, target kept, powered off, rescue password dropped, Ironic's text without the uuid", async () => {
    await withFixture({}, async ({ conductor, port, createNode, read }) => {
      const node = await createNode(
        {
          provision_state: 'rescue wait',
          target_provision_state: 'rescue',
          power_state: 'power on',
          instance_info: { image_source: 'img', rescue_password: 'pw', hashed_rescue_password: 'hash' },
          driver_internal_info: { agent_url: 'http://10.0.0.8:9999', agent_secret_token: 't', agent_cached_clean_steps: {} },
        },
        TIMED_OUT,
      );
      const report = await runWaitTimeoutCheck(waitTimeoutCheck('rescue'), port);
      await conductor.onIdle();
      assert.deepEqual(report.failed, [node.uuid]);
      const after = await read(node);
      assert.equal(after.provision_state, 'rescue failed');
      assert.equal(after.target_provision_state, 'rescue');
      assert.equal(after.last_error, RESCUE_TIMEOUT_MESSAGE);
      assert.equal(after.last_error, 'Timeout reached while waiting for rescue ramdisk callback for node');
      assert.equal(after.power_state, 'power off');
      assert.equal(after.target_power_state, null);
      assert.deepEqual(after.instance_info, { image_source: 'img' });
      assert.deepEqual(after.driver_internal_info, {});
      assert.equal(after.reservation, null);
    });
  });

  it('rescue: a failing clean-up is recorded as Ironic\'s "clean up failed" error', async () => {
    await withFixture(
      { fakeBehaviour: { failOperations: { 'boot.cleanUpRamdisk': 1 } } },
      async ({ conductor, port, createNode, read }) => {
        const node = await createNode(
          { provision_state: 'rescue wait', target_provision_state: 'rescue', power_state: 'power off' },
          TIMED_OUT,
        );
        await runWaitTimeoutCheck(waitTimeoutCheck('rescue'), port);
        await conductor.onIdle();
        const after = await read(node);
        assert.equal(after.provision_state, 'rescue failed');
        assert.equal(
          after.last_error,
          'Rescue operation was unsuccessful, clean up failed for node: fake boot.cleanUpRamdisk failed (injected)',
        );
      },
    );
  });

  it('service wait → service failed, target kept, maintenance and the service failure fault when a step was running', async () => {
    await withFixture({}, async ({ conductor, port, createNode, read }) => {
      const withStep = await createNode(
        {
          provision_state: 'service wait',
          target_provision_state: 'active',
          driver_internal_info: {
            service_step: { interface: 'bios', step: 'apply_configuration' },
            service_step_index: 1,
            servicing_polling: true,
            agent_url: 'http://10.0.0.9:9999',
          },
        },
        TIMED_OUT,
      );
      const noStep = await createNode({ provision_state: 'service wait', target_provision_state: 'active' }, TIMED_OUT);
      const report = await runWaitTimeoutCheck(waitTimeoutCheck('service'), port);
      await conductor.onIdle();
      assert.deepEqual(report.failed, [withStep.uuid, noStep.uuid]);

      const text = serviceText("{'interface': 'bios', 'step': 'apply_configuration'}");
      const s = await read(withStep);
      assert.equal(s.provision_state, 'service failed');
      assert.equal(s.target_provision_state, 'active');
      assert.equal(s.last_error, text);
      assert.equal(s.maintenance, true);
      assert.equal(s.maintenance_reason, text);
      assert.deepEqual(s.driver_internal_info, { service_step: {}, [FAULT_KEY]: SERVICE_FAILURE });

      const n = await read(noStep);
      assert.equal(n.provision_state, 'service failed');
      assert.equal(n.last_error, serviceText('None'));
      assert.equal(n.maintenance, false);
      assert.equal(n.reservation, null);
    });
  });

  it('keeps the previous target for rescue and service (synthetic targets tell kept from default)', async () => {
    await withFixture({}, async ({ conductor, port, createNode, read }) => {
      const rescue = await createNode({ provision_state: 'rescue wait', target_provision_state: 'active' }, TIMED_OUT);
      const service = await createNode({ provision_state: 'service wait', target_provision_state: 'rescue' }, TIMED_OUT);
      const inspect = await createNode({ provision_state: 'inspect wait', target_provision_state: 'active' }, TIMED_OUT);
      await runWaitTimeoutChecks(port);
      await conductor.onIdle();
      assert.equal((await read(rescue)).target_provision_state, 'active', 'rescue: kept (default would be rescue)');
      assert.equal((await read(service)).target_provision_state, 'rescue', 'service: kept (default would be active)');
      assert.equal((await read(inspect)).target_provision_state, 'manageable', 'inspect: not kept (machine default)');
    });
  });
});

describe('wait-timeout checks: per-run cap, skipped nodes, no free workers', () => {
  it('fails at most periodicMaxWorkers nodes per run, lowest ids first; the next run takes the rest', async () => {
    await withFixture({ periodicMaxWorkers: 3 }, async ({ conductor, port, createNode, read }) => {
      const nodes: NodeRecord[] = [];
      for (let i = 0; i < 5; i++)
        nodes.push(await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, TIMED_OUT));
      const first = await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port);
      await conductor.onIdle();
      assert.equal(first.candidates, 5);
      assert.deepEqual(
        first.failed,
        nodes.slice(0, 3).map((n) => n.uuid),
      );
      const states = await Promise.all(nodes.map(async (n) => (await read(n)).provision_state));
      assert.deepEqual(states, ['deploy failed', 'deploy failed', 'deploy failed', 'wait call-back', 'wait call-back']);

      const second = await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port);
      await conductor.onIdle();
      assert.equal(second.candidates, 2);
      assert.deepEqual(
        second.failed,
        nodes.slice(3).map((n) => n.uuid),
      );
    });
  });

  it('skips (and counts) nodes locked or deleted after listing, and nodes whose state or maintenance changed; they do not use up the cap', async () => {
    await withFixture({ periodicMaxWorkers: 2, nodeLockedRetryInterval: 5000 }, async ({ conductor, port, store, createNode, read }) => {
      const n: NodeRecord[] = [];
      for (let i = 0; i < 6; i++)
        n.push(await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, TIMED_OUT));
      const [lockedOther, lockedHere, gone, toMaintenance, first, second] = n as [
        NodeRecord,
        NodeRecord,
        NodeRecord,
        NodeRecord,
        NodeRecord,
        NodeRecord,
      ];
      // A local holder: with retry: false the check must not wait for it.
      const held = await conductor.acquire(adminContext(), lockedHere.id, { purpose: 'busy' });
      assert.ok(held.isOk());
      // Races after the listing: another conductor locks one, one is deleted, one enters maintenance.
      const racing: PeriodicPort = {
        ...port,
        store: new Proxy(store, {
          get(target, prop) {
            if (prop !== 'listNodes') return Reflect.get(target, prop, target) as unknown;
            return (filter: Parameters<typeof store.listNodes>[0]) =>
              target.listNodes({ ...filter, reserved: undefined }).andThen((listed) =>
                target
                  .reserve(OTHER_HOST, lockedOther.id)
                  .andThen(() => target.destroyNode(gone.id))
                  .andThen(() => target.updateNode(toMaintenance.id, { maintenance: true }))
                  .map(() => listed.filter((node) => node.reservation === null || node.id === lockedHere.id)),
              );
          },
        }),
      };
      const started = Date.now();
      const report = await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), racing);
      await conductor.onIdle();
      assert.ok(Date.now() - started < 2500, 'a locked node is skipped at once, not waited for');
      assert.equal(report.candidates, 6);
      assert.equal(report.skippedLocked, 2);
      assert.equal(report.skippedGone, 1);
      assert.equal(report.skippedChanged, 1);
      assert.deepEqual(report.failed, [first.uuid, second.uuid]);
      assert.deepEqual(report.errors, []);
      assert.equal((await read(lockedOther)).provision_state, 'wait call-back');
      assert.equal((await read(lockedOther)).reservation, OTHER_HOST);
      assert.equal((await read(toMaintenance)).provision_state, 'wait call-back');
      if (held.isOk()) {
        assert.equal(held.value.node.provision_state, 'wait call-back');
        assert.ok((await held.value.release()).isOk());
      }
      assert.equal((await read(lockedHere)).provision_state, 'wait call-back');
      assert.deepEqual(await reservations(store), { [lockedOther.uuid]: OTHER_HOST });
    });
  });

  it('NoFreeConductorWorker ends the run; provisioningErrorHandler rolls the node back with "No free conductor workers available"', async () => {
    let spawns = 0;
    const spawner = (): never => {
      spawns += 1;
      throw new NoFreeConductorWorker();
    };
    await withFixture({ seams: { spawner } }, async ({ port, store, createNode, read }) => {
      const nodes: NodeRecord[] = [];
      for (let i = 0; i < 3; i++)
        nodes.push(await createNode({ provision_state: 'wait call-back', target_provision_state: 'active' }, TIMED_OUT));
      const untouched = await Promise.all(nodes.slice(1).map(read));
      const report = await runWaitTimeoutCheck(waitTimeoutCheck('deploy'), port);
      assert.equal(spawns, 1, 'no spawn is attempted after the first NoFreeConductorWorker');
      assert.equal(report.stoppedNoWorkers, true);
      assert.equal(report.unspawned, nodes[0]?.uuid);
      assert.deepEqual(report.failed, []);
      const rolledBack = await read(nodes[0] as NodeRecord);
      assert.equal(rolledBack.provision_state, 'wait call-back');
      assert.equal(rolledBack.target_provision_state, 'active');
      assert.equal(rolledBack.last_error, NO_FREE_WORKERS_MESSAGE);
      assert.equal(rolledBack.last_error, 'No free conductor workers available');
      assert.equal(rolledBack.reservation, null);
      for (const [i, node] of nodes.slice(1).entries()) assertUntouched(await read(node), untouched[i] as NodeRecord, `node ${i + 1}`);
      assert.deepEqual(await reservations(store), {});
    });
  });

  it('NoFreeConductorWorker on inspect rolls back to inspect wait; on clean (no err_handler in Ironic) the node stays in clean failed', async () => {
    const spawner = (): never => {
      throw new NoFreeConductorWorker();
    };
    await withFixture({ seams: { spawner } }, async ({ port, createNode, read }) => {
      const inspect = await createNode({ provision_state: 'inspect wait', target_provision_state: 'manageable' }, TIMED_OUT);
      const clean = await createNode({ provision_state: 'clean wait', target_provision_state: 'manageable', last_error: 'old' }, TIMED_OUT);
      const inspectReport = await runWaitTimeoutCheck(waitTimeoutCheck('inspect'), port);
      const cleanReport = await runWaitTimeoutCheck(waitTimeoutCheck('clean'), port);
      assert.equal(inspectReport.stoppedNoWorkers, true);
      assert.equal(cleanReport.stoppedNoWorkers, true);
      const i = await read(inspect);
      assert.equal(i.provision_state, 'inspect wait');
      assert.equal(i.target_provision_state, 'manageable');
      assert.equal(i.last_error, 'No free conductor workers available');
      const c = await read(clean);
      assert.equal(c.provision_state, 'clean failed');
      assert.equal(c.target_provision_state, 'manageable');
      assert.equal(c.last_error, null, 'process_event with a callback cleared last_error; the callback never ran');
      assert.equal(c.reservation, null);
    });
  });

  it('runs every enabled check in one pass and leaves nothing reserved by this host', async () => {
    await withFixture({}, async ({ conductor, port, store, createNode, read }) => {
      const states: ProvisionState[] = ['wait call-back', 'clean wait', 'inspect wait', 'rescue wait', 'service wait'];
      const nodes = await Promise.all(states.map((s) => createNode({ provision_state: s }, TIMED_OUT)));
      const reports = await runWaitTimeoutChecks(port);
      await conductor.onIdle();
      assert.deepEqual(
        reports.map((r) => [r.check, r.failed.length]),
        [
          ['deploy', 1],
          ['clean', 1],
          ['inspect', 1],
          ['rescue', 1],
          ['service', 1],
        ],
      );
      const after = await Promise.all(nodes.map(read));
      assert.deepEqual(
        after.map((n) => [n.provision_state, n.target_provision_state]),
        [
          ['deploy failed', 'active'],
          ['clean failed', 'available'],
          ['inspect failed', 'manageable'],
          ['rescue failed', 'rescue'],
          ['service failed', 'active'],
        ],
      );
      assert.deepEqual(await reservations(store), {});
      assert.equal(conductor.status().workers.failed, 0, 'no callback failed');
    });
  });
});
