import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildDriverForTask,
  createDriverRegistry,
  EXCLUSIVE_OPERATIONS,
  FakeDriverError,
  makeDriverTask,
  UnsupportedDriverExtension,
  type BareDriver,
  type DriverRegistryOptions,
  type DriverTask,
  type FakeBehaviour,
} from '../../src/drivers/index.js';
import { ExclusiveLockRequired, InvalidParameterValue } from '../../src/errors.js';
import { INTERFACE_TYPES, type NodeRecord } from '../../src/node.js';
import { allFakeInterfaces, makeNode, seededRandom } from './helpers.js';

function setup(fakeBehaviour: FakeBehaviour = {}, options: DriverRegistryOptions = {}) {
  const registry = createDriverRegistry({ fakeBehaviour, ...options })._unsafeUnwrap();
  const built = buildDriverForTask({ node: makeNode() }, registry)._unsafeUnwrap();
  return { registry, driver: built.driver, node: built.node };
}

function recordingSleep() {
  const calls: number[] = [];
  const sleep = async (ms: number, signal: AbortSignal): Promise<void> => {
    assert.ok(signal instanceof AbortSignal);
    calls.push(ms);
  };
  return { calls, sleep };
}

const task = (node: NodeRecord, options: { shared?: boolean; signal?: AbortSignal } = {}): DriverTask => makeDriverTask(node, options);

/** One representative call per exclusive-only operation, with arguments that are otherwise valid. */
function exclusiveCalls(driver: BareDriver, t: DriverTask): Record<string, () => unknown> {
  return {
    'bios.applyConfiguration': () => driver.bios.applyConfiguration(t, []),
    'bios.factoryReset': () => driver.bios.factoryReset(t),
    'boot.prepareRamdisk': () => driver.boot.prepareRamdisk(t),
    'boot.cleanUpRamdisk': () => driver.boot.cleanUpRamdisk(t),
    'boot.prepareInstance': () => driver.boot.prepareInstance(t),
    'boot.cleanUpInstance': () => driver.boot.cleanUpInstance(t),
    'console.startConsole': () => driver.console.startConsole(t),
    'console.stopConsole': () => driver.console.stopConsole(t),
    'deploy.deploy': () => driver.deploy.deploy(t),
    'deploy.tearDown': () => driver.deploy.tearDown(t),
    'deploy.prepare': () => driver.deploy.prepare(t),
    'deploy.cleanUp': () => driver.deploy.cleanUp(t),
    'deploy.takeOver': () => driver.deploy.takeOver(t),
    'deploy.prepareCleaning': () => driver.deploy.prepareCleaning(t),
    'deploy.tearDownCleaning': () => driver.deploy.tearDownCleaning(t),
    'deploy.executeCleanStep': () => driver.deploy.executeCleanStep(t, { interface: 'deploy', step: 'erase_devices', priority: 10 }),
    'firmware.update': () => driver.firmware.update(t, []),
    'inspect.inspectHardware': () => driver.inspect.inspectHardware(t),
    'management.setBootDevice': () => driver.management.setBootDevice(t, 'pxe'),
    'network.addProvisioningNetwork': () => driver.network.addProvisioningNetwork(t),
    'network.removeProvisioningNetwork': () => driver.network.removeProvisioningNetwork(t),
    'network.configureTenantNetworks': () => driver.network.configureTenantNetworks(t),
    'network.unconfigureTenantNetworks': () => driver.network.unconfigureTenantNetworks(t),
    'network.addCleaningNetwork': () => driver.network.addCleaningNetwork(t),
    'network.removeCleaningNetwork': () => driver.network.removeCleaningNetwork(t),
    'power.setPowerState': () => driver.power.setPowerState(t, 'power on'),
    'power.reboot': () => driver.power.reboot(t),
    'raid.createConfiguration': () => driver.raid.createConfiguration(t),
    'raid.deleteConfiguration': () => driver.raid.deleteConfiguration(t),
    'rescue.rescue': () => driver.rescue.rescue(t),
    'rescue.unrescue': () => driver.rescue.unrescue(t),
    'storage.attachVolumes': () => driver.storage.attachVolumes(t),
    'storage.detachVolumes': () => driver.storage.detachVolumes(t),
  };
}

describe('fake implementations: results', () => {
  it('power: state from the node, stable state after set, reboot ends powered on', async () => {
    const { driver, node } = setup();
    assert.equal(await driver.power.getPowerState(task(node)), 'power off');
    const on = { ...node, power_state: 'power on' };
    assert.equal(await driver.power.getPowerState(task(on)), 'power on');
    assert.equal(await driver.power.setPowerState(task(node), 'power on'), 'power on');
    assert.equal(await driver.power.setPowerState(task(node), 'soft power off'), 'power off');
    assert.equal(await driver.power.reboot(task(node)), 'power on');
    assert.ok((await driver.power.getSupportedPowerStates(task(node))).includes('soft rebooting'));
    await assert.rejects(driver.power.setPowerState(task(node), 'rebooting'), InvalidParameterValue);
  });

  it('deploy, inspect, rescue return Ironic fake hints', async () => {
    const { driver, node } = setup();
    const t = task(node);
    assert.equal(await driver.deploy.deploy(t), null);
    assert.equal(await driver.deploy.tearDown(t), 'deleted');
    const steps = await driver.deploy.getCleanSteps(t);
    assert.deepEqual(
      steps.map((s) => s.step),
      ['erase_devices_metadata', 'erase_devices'],
    );
    for (const step of steps) assert.equal(await driver.deploy.executeCleanStep(t, step), null);
    await assert.rejects(driver.deploy.executeCleanStep(t, { interface: 'deploy', step: 'nope', priority: 1 }), InvalidParameterValue);
    assert.equal(await driver.inspect.inspectHardware(t), 'manageable');
    assert.equal(await driver.rescue.rescue(t), 'rescue');
    assert.equal(await driver.rescue.unrescue(t), 'active');
    assert.deepEqual(await driver.management.getBootDevice(t), { bootDevice: 'pxe', persistent: false });
    await assert.rejects(driver.management.setBootDevice(t, 'cdrom'), InvalidParameterValue);
    assert.equal(await driver.storage.shouldWriteImage(t), true);
  });

  it('every fake validate resolves', async () => {
    const { driver, node } = setup();
    for (const type of INTERFACE_TYPES) await driver[type].validate(task(node));
  });

  it('vendor routes: exclusive per route', async () => {
    const { driver, node } = setup();
    assert.equal(await driver.vendor.callMethod(task(node), 'first_method', { bar: 'kazoo' }), true);
    assert.equal(await driver.vendor.callMethod(task(node, { shared: true }), 'fourth_method_shared_lock', { bar: 'meow' }), true);
    assert.throws(() => driver.vendor.callMethod(task(node, { shared: true }), 'second_method', { bar: 'meow' }), ExclusiveLockRequired);
    await assert.rejects(driver.vendor.callMethod(task(node), 'nope'), InvalidParameterValue);
    await assert.rejects(driver.vendor.validate(task(node), 'second_method', {}), InvalidParameterValue);
  });
});

describe('fake implementations: delay', () => {
  it('sleeps the fixed delay through the injected sleep, with the task signal', async () => {
    const { calls, sleep } = recordingSleep();
    const { driver, node } = setup({ delayMs: 250, sleep });
    await driver.deploy.deploy(task(node));
    await driver.power.getPowerState(task(node));
    assert.deepEqual(calls, [250, 250]);
  });

  it('draws a delay in [min, max] from random', async () => {
    const { calls, sleep } = recordingSleep();
    const draws = [0, 0.25, 0.999];
    const { driver, node } = setup({ delayMs: { min: 100, max: 200 }, sleep, random: () => draws.shift() ?? 0.5 });
    for (let i = 0; i < 3; i++) await driver.boot.prepareRamdisk(task(node));
    assert.deepEqual(calls.map(Math.round), [100, 125, 200]);
  });

  it('does not sleep at all with no delay', async () => {
    const { calls, sleep } = recordingSleep();
    const { driver, node } = setup({ sleep });
    await driver.deploy.deploy(task(node));
    assert.deepEqual(calls, []);
  });

  it('applies a new behaviour to operations started afterwards', async () => {
    const { calls, sleep } = recordingSleep();
    const { registry, driver, node } = setup({ sleep });
    registry.setFakeBehaviour({ delayMs: 5, sleep })._unsafeUnwrap();
    await driver.deploy.deploy(task(node));
    assert.deepEqual(calls, [5]);
  });
});

describe('fake implementations: failure injection', () => {
  it('failureRate 1 fails every operation with FakeDriverError', async () => {
    const { driver, node } = setup({ failureRate: 1 });
    await assert.rejects(driver.deploy.deploy(task(node)), (error: unknown) => {
      assert.ok(error instanceof FakeDriverError);
      assert.equal(error.message, 'fake deploy.deploy failed (injected)');
      assert.equal(error.operation, 'deploy.deploy');
      assert.equal(error.details['node'], node.uuid);
      assert.equal(error.status, 500);
      return true;
    });
    await assert.rejects(driver.power.getPowerState(task(node)), FakeDriverError);
    await assert.rejects(driver.network.addProvisioningNetwork(task(node)), FakeDriverError);
  });

  it('failureRate 0 never fails', async () => {
    const { driver, node } = setup({ failureRate: 0, random: seededRandom(1) });
    for (let i = 0; i < 200; i++) await driver.deploy.deploy(task(node));
  });

  it('per-operation probability overrides the rate', async () => {
    const { driver, node } = setup({ failureRate: 1, failOperations: { 'deploy.deploy': 0, 'power.getPowerState': 0 } });
    assert.equal(await driver.deploy.deploy(task(node)), null);
    assert.equal(await driver.power.getPowerState(task(node)), 'power off');
    await assert.rejects(driver.deploy.tearDown(task(node)), FakeDriverError);

    const only = setup({ failOperations: { 'deploy.deploy': 1 } });
    await assert.rejects(only.driver.deploy.deploy(task(only.node)), /fake deploy\.deploy failed \(injected\)/);
    assert.equal(await only.driver.deploy.tearDown(task(only.node)), 'deleted');
  });

  it('a seeded random gives the same outcomes every run', async () => {
    const outcomes = async (seed: number): Promise<string> => {
      const { driver, node } = setup({ failureRate: 0.5, random: seededRandom(seed) });
      let out = '';
      for (let i = 0; i < 64; i++) {
        out += await driver.deploy.deploy(task(node)).then(
          () => '.',
          () => 'x',
        );
      }
      return out;
    };
    const a = await outcomes(42);
    assert.equal(await outcomes(42), a);
    assert.match(a, /\./);
    assert.match(a, /x/);
  });

  it('noop and no-* implementations do no work and are not injected', async () => {
    const reg = createDriverRegistry({ fakeBehaviour: { failureRate: 1, delayMs: 1000 } })._unsafeUnwrap();
    const node = makeNode({ ...allFakeInterfaces(), deploy_interface: 'noop', rescue_interface: 'no-rescue', storage_interface: 'noop' });
    const { driver } = buildDriverForTask({ node }, reg)._unsafeUnwrap();
    assert.equal(await driver.deploy.deploy(task(node)), null);
    assert.equal(await driver.storage.shouldWriteImage(task(node)), true);
    await driver.network.addProvisioningNetwork(task(node));
    await assert.rejects(driver.rescue.validate(task(node)), (error: unknown) => {
      assert.ok(error instanceof UnsupportedDriverExtension);
      assert.equal(error.details['extension'], 'rescue');
      assert.equal(error.details['driver'], 'fake-hardware');
      return true;
    });
    await assert.rejects(driver.rescue.rescue(task(node)), UnsupportedDriverExtension);
  });
});

describe('fake implementations: abort', () => {
  it('cuts a delay short with the signal reason', async () => {
    const { driver, node } = setup({ delayMs: 60_000 });
    const controller = new AbortController();
    const reason = new Error('task released');
    const pending = driver.deploy.deploy(task(node, { signal: controller.signal }));
    controller.abort(reason);
    await assert.rejects(pending, (error) => error === reason);
  });

  it('cuts an injected sleep short even if the sleep ignores the signal', async () => {
    const never = () => new Promise<void>(() => {});
    const { driver, node } = setup({ delayMs: 10, sleep: never });
    const controller = new AbortController();
    const pending = driver.power.reboot(task(node, { signal: controller.signal }));
    controller.abort('stop');
    await assert.rejects(pending, (error) => error === 'stop');
  });

  it('rejects at once when already aborted, without sleeping or failing', async () => {
    const { calls, sleep } = recordingSleep();
    const { driver, node } = setup({ delayMs: 10, sleep, failureRate: 1 });
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await assert.rejects(driver.deploy.tearDown(task(node, { signal: controller.signal })), /gone/);
    assert.deepEqual(calls, []);
  });
});

describe('fake implementations: exclusive lock', () => {
  it('exclusive-only operations throw ExclusiveLockRequired on a shared task', () => {
    const { driver, node } = setup();
    const calls = exclusiveCalls(driver, task(node, { shared: true }));
    const listed = Object.entries(EXCLUSIVE_OPERATIONS).flatMap(([type, ops]) => ops.map((op) => `${type}.${op}`));
    assert.deepEqual(Object.keys(calls).sort(), listed.sort());
    for (const [operation, call] of Object.entries(calls)) {
      assert.throws(call, (error: unknown) => {
        assert.ok(error instanceof ExclusiveLockRequired, operation);
        assert.equal(error.details['operation'], operation);
        assert.equal(error.details['node'], node.uuid);
        return true;
      });
    }
  });

  it('the same operations run on an exclusive task', async () => {
    const { driver, node } = setup();
    for (const call of Object.values(exclusiveCalls(driver, task(node)))) await call();
  });

  it('read-only operations run on a shared task', async () => {
    const { driver, node } = setup();
    const shared = task(node, { shared: true });
    assert.equal(await driver.power.getPowerState(shared), 'power off');
    await driver.deploy.validate(shared);
    await driver.management.getBootDevice(shared);
    await driver.deploy.getCleanSteps(shared);
  });
});
