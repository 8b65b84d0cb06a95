import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createDriverRegistry,
  defineHardwareType,
  defineInterface,
  FAKE_HARDWARE,
  IPMI,
  type DriverRegistryOptions,
} from '../../src/drivers/index.js';
import { InvalidParameterValue } from '../../src/errors.js';

const done = async (): Promise<void> => undefined;
const extraRescue = (name: string) =>
  defineInterface('rescue', name, { validate: done, rescue: async () => 'rescue' as const, unrescue: async () => 'active' as const });

function invalid(options: DriverRegistryOptions, pattern: RegExp): void {
  const error = createDriverRegistry(options)._unsafeUnwrapErr();
  assert.ok(error instanceof InvalidParameterValue);
  assert.match(error.message, pattern);
}

describe('createDriverRegistry', () => {
  it('defaults: fake-hardware and manual-management enabled, every implementation enabled', () => {
    const registry = createDriverRegistry()._unsafeUnwrap();
    assert.deepEqual(registry.enabledHardwareTypeNames(), ['fake-hardware', 'manual-management']);
    assert.deepEqual(registry.enabledInterfaceNames('power'), ['fake']);
    assert.deepEqual(registry.enabledInterfaceNames('network'), ['flat', 'noop']);
    assert.deepEqual(registry.enabledInterfaceNames('console'), ['fake', 'fake-graphical', 'no-console']);
    assert.equal(registry.getHardwareType('ipmi')._unsafeUnwrapErr().code, 'DriverNotFound');
    assert.equal(registry.getHardwareType('fake-hardware')._unsafeUnwrap(), FAKE_HARDWARE);
    assert.equal(registry.fakeBehaviour.failureRate, 0);
    assert.equal(registry.fakeBehaviour.delayMin, 0);
  });

  it('enables what the options say', () => {
    const registry = createDriverRegistry({
      enabledHardwareTypes: ['ipmi', 'ipmi'],
      enabledInterfaces: { raid: ['no-raid'] },
      defaultInterfaces: { raid: 'no-raid' },
    })._unsafeUnwrap();
    assert.deepEqual(registry.enabledHardwareTypeNames(), ['ipmi']);
    assert.equal(registry.getHardwareType('ipmi')._unsafeUnwrap(), IPMI);
    assert.deepEqual(registry.enabledInterfaceNames('raid'), ['no-raid']);
    assert.deepEqual(registry.enabledInterfaceNames('power'), ['fake']);
    assert.equal(registry.configuredDefault('raid'), 'no-raid');
  });

  it('rejects unknown and invalid names', () => {
    invalid({ enabledHardwareTypes: ['nope'] }, /enabledHardwareTypes names an unknown hardware type "nope"/);
    invalid({ enabledHardwareTypes: [] }, /enabledHardwareTypes must be a non-empty list/);
    invalid(
      { enabledInterfaces: { power: ['ipmitool'] } },
      /enabledInterfaces\.power names an unknown power interface "ipmitool"; known: fake/,
    );
    invalid({ enabledInterfaces: { teleport: ['fake'] } as never }, /unknown interface type "teleport"/);
    invalid({ defaultInterfaces: { power: 'ipmitool' } }, /defaultInterfaces\.power .*not an enabled power interface/);
    invalid({ enabledInterfaces: { raid: ['fake'] }, defaultInterfaces: { raid: 'no-raid' } }, /defaultInterfaces\.raid/);
    invalid({ fakeBehaviour: { failureRate: 2 } }, /fakeBehaviour\.failureRate/);
    invalid({ fakeBehaviour: { delayMs: { min: 5, max: 1 } } }, /fakeBehaviour\.delayMs must have min <= max/);
    invalid({ fakeBehaviour: { delayMs: -1 } }, /fakeBehaviour\.delayMs/);
    invalid({ fakeBehaviour: { failOperations: { 'deploy.deplyo': 1 } } }, /unknown operation "deploy\.deplyo"/);
    invalid({ fakeBehaviour: { failOperations: { 'deploy.deploy': 1.5 } } }, /failOperations\.deploy\.deploy/);
    invalid({ hardwareTypes: [FAKE_HARDWARE] }, /already has a hardware type named "fake-hardware"/);
    invalid({ implementations: [extraRescue('fake')] }, /already has a rescue interface named "fake"/);
  });

  it('registers extra hardware types (enabled by default) and implementations before validating', () => {
    const mine = defineHardwareType('mine', { rescue: ['mine'] });
    const registry = createDriverRegistry({
      hardwareTypes: [mine],
      implementations: [extraRescue('mine')],
      defaultInterfaces: { rescue: 'mine' },
    })._unsafeUnwrap();
    assert.deepEqual(registry.enabledHardwareTypeNames(), ['fake-hardware', 'manual-management', 'mine']);
    assert.deepEqual(registry.enabledInterfaceNames('rescue'), ['fake', 'no-rescue', 'mine']);
    assert.equal(registry.getInterface(mine, 'rescue', 'mine')._unsafeUnwrap().name, 'mine');
    assert.equal(registry.getInterface(mine, 'rescue', 'fake')._unsafeUnwrapErr().code, 'IncompatibleInterface');
  });
});

describe('DriverRegistry', () => {
  it('registerInterface enables unless told not to, and bumps the generation', () => {
    const registry = createDriverRegistry()._unsafeUnwrap();
    const before = registry.generation;
    registry.registerInterface(extraRescue('later'))._unsafeUnwrap();
    registry.registerInterface(extraRescue('hidden'), { enable: false })._unsafeUnwrap();
    assert.ok(registry.generation > before);
    assert.deepEqual(registry.enabledInterfaceNames('rescue'), ['fake', 'no-rescue', 'later']);
    const error = registry.getInterface(FAKE_HARDWARE, 'rescue', 'hidden')._unsafeUnwrapErr();
    assert.equal(error.code, 'InterfaceNotFoundInEntrypoint');
    assert.equal(registry.registerInterface(extraRescue('later'))._unsafeUnwrapErr().code, 'InvalidParameterValue');
    assert.equal(registry.registerInterface({ name: 'x' } as never)._unsafeUnwrapErr().code, 'InvalidParameterValue');
  });

  it('registerHardwareType validates the shape', () => {
    const registry = createDriverRegistry()._unsafeUnwrap();
    const error = registry.registerHardwareType({ name: 'broken', supported: {} } as never)._unsafeUnwrapErr();
    assert.match(error.message, /"broken" needs supported\.bios/);
    registry.registerHardwareType(defineHardwareType('ok-type', {}))._unsafeUnwrap();
    assert.ok(registry.getHardwareType('ok-type').isOk());
  });

  it('defaultInterface follows the supported order among enabled ones', () => {
    const registry = createDriverRegistry({ enabledHardwareTypes: ['fake-hardware', 'manual-management'] })._unsafeUnwrap();
    const manual = registry.getHardwareType('manual-management')._unsafeUnwrap();
    assert.equal(registry.defaultInterface(manual, 'power', 'n')._unsafeUnwrap(), 'fake');
    assert.equal(registry.defaultInterface(manual, 'management', 'n')._unsafeUnwrap(), 'noop');
    assert.equal(registry.defaultInterface(manual, 'deploy', 'n')._unsafeUnwrap(), 'noop');
    assert.equal(registry.defaultInterface(manual, 'boot', 'n')._unsafeUnwrapErr().code, 'NoValidDefaultForInterface');
    assert.equal(registry.defaultInterface(FAKE_HARDWARE, 'network', 'n')._unsafeUnwrap(), 'flat');
  });

  it('setFakeBehaviour keeps the current behaviour on error', () => {
    const registry = createDriverRegistry({ fakeBehaviour: { failureRate: 0.25 } })._unsafeUnwrap();
    assert.equal(registry.setFakeBehaviour({ failureRate: -1 })._unsafeUnwrapErr().code, 'InvalidParameterValue');
    assert.equal(registry.fakeBehaviour.failureRate, 0.25);
    registry.setFakeBehaviour({ delayMs: 3 })._unsafeUnwrap();
    assert.equal(registry.fakeBehaviour.failureRate, 0);
    assert.equal(registry.fakeBehaviour.delayMax, 3);
  });
});
