import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { produce } from 'immer';
import {
  buildDriverForTask,
  createDriverRegistry,
  defineHardwareType,
  defineInterface,
  type DriverRegistry,
  type DriverRegistryOptions,
} from '../../src/drivers/index.js';
import { INTERFACE_TYPES, type NodeRecord } from '../../src/node.js';
import { allFakeInterfaces, makeNode } from './helpers.js';

function registry(options: DriverRegistryOptions = {}): DriverRegistry {
  return createDriverRegistry(options)._unsafeUnwrap();
}

function build(node: NodeRecord, reg: DriverRegistry = registry()) {
  return buildDriverForTask({ node }, reg);
}

const done = async (): Promise<void> => undefined;

/** Stand-ins for implementations that only exist in real Ironic, so `ipmi` nodes can resolve. */
const ipmiStandIns = () => [
  defineInterface('boot', 'ipxe', {
    validate: done,
    prepareRamdisk: done,
    cleanUpRamdisk: done,
    prepareInstance: done,
    cleanUpInstance: done,
  }),
  defineInterface('deploy', 'direct', {
    validate: done,
    deploy: async () => null,
    tearDown: async () => 'deleted' as const,
    prepare: done,
    cleanUp: done,
    takeOver: done,
    prepareCleaning: async () => null,
    tearDownCleaning: done,
    getCleanSteps: async () => [],
    executeCleanStep: async () => null,
  }),
  defineInterface('management', 'ipmitool', {
    validate: done,
    getSupportedBootDevices: async () => ['pxe', 'disk'] as const,
    getBootDevice: async () => ({ bootDevice: null, persistent: null }),
    setBootDevice: done,
    getSensorsData: async () => ({}),
  }),
  defineInterface('power', 'ipmitool', {
    validate: done,
    getPowerState: async () => 'power off',
    setPowerState: async () => 'power off' as const,
    reboot: async () => 'power on' as const,
    getSupportedPowerStates: async () => ['power on', 'power off'] as const,
  }),
];

describe('buildDriverForTask: defaults', () => {
  it('fills computed defaults on a new frozen node and leaves the input untouched', () => {
    const node = makeNode();
    const built = build(node)._unsafeUnwrap();
    assert.notEqual(built.node, node);
    assert.ok(Object.isFrozen(built.node));
    assert.ok(Object.isFrozen(node));
    for (const type of INTERFACE_TYPES) {
      assert.equal(node[`${type}_interface`], null, `input ${type}_interface unchanged`);
      const expected = type === 'network' ? 'flat' : 'fake';
      assert.equal(built.node[`${type}_interface`], expected);
      assert.equal(built.driver.interfaceNames[type], expected);
      assert.equal(built.driver[type].name, expected);
      assert.equal(built.driver[type].interfaceType, type);
    }
    assert.equal(built.driver.hardwareType, 'fake-hardware');
    // Everything else is carried over.
    assert.equal(built.node.uuid, node.uuid);
    assert.equal(built.node.instance_info, node.instance_info);
  });

  it('returns the same node reference when nothing had to be filled', () => {
    const node = makeNode(allFakeInterfaces());
    const built = build(node)._unsafeUnwrap();
    assert.equal(built.node, node);
    assert.equal(built.driver.network.name, 'noop');
  });

  it('fills only the empty fields', () => {
    const node = makeNode({ raid_interface: 'no-raid', network_interface: 'noop' });
    const built = build(node)._unsafeUnwrap();
    assert.equal(built.node.raid_interface, 'no-raid');
    assert.equal(built.node.network_interface, 'noop');
    assert.equal(built.node.power_interface, 'fake');
  });

  it('uses the configured default (Ironic default_<iface>_interface)', () => {
    const reg = registry({ defaultInterfaces: { network: 'noop', rescue: 'no-rescue' } });
    const built = build(makeNode(), reg)._unsafeUnwrap();
    assert.equal(built.node.network_interface, 'noop');
    assert.equal(built.node.rescue_interface, 'no-rescue');
  });

  it('computes the first supported implementation that is enabled', () => {
    const reg = registry({ enabledInterfaces: { raid: ['no-raid'], storage: ['noop'] } });
    const built = build(makeNode(), reg)._unsafeUnwrap();
    assert.equal(built.node.raid_interface, 'no-raid');
    assert.equal(built.node.storage_interface, 'noop');
  });
});

describe('buildDriverForTask: instance_info override', () => {
  it('wins over the node field and is not written to the node field', () => {
    const node = makeNode({ ...allFakeInterfaces(), instance_info: { network_interface: 'flat', storage_interface: 'noop' } });
    const built = build(node)._unsafeUnwrap();
    assert.equal(built.driver.network.name, 'flat');
    assert.equal(built.driver.storage.name, 'noop');
    assert.equal(built.node.network_interface, 'noop');
    assert.equal(built.node.storage_interface, 'fake');
  });

  it('leaves the overridden field empty rather than filling a default (Ironic)', () => {
    const node = makeNode({ instance_info: { network_interface: 'noop' } });
    const built = build(node)._unsafeUnwrap();
    assert.equal(built.driver.network.name, 'noop');
    assert.equal(built.node.network_interface, null);
    assert.equal(built.node.power_interface, 'fake');
  });

  it('is validated', () => {
    const error = build(makeNode({ instance_info: { network_interface: 'banana' } }))._unsafeUnwrapErr();
    assert.equal(error.code, 'InterfaceNotFoundInEntrypoint');
  });

  it('does not hide an invalid node field (Ironic validates both)', () => {
    const node = makeNode({ power_interface: 'foobar', instance_info: { power_interface: 'fake' } });
    assert.equal(build(node)._unsafeUnwrapErr().code, 'InterfaceNotFoundInEntrypoint');
  });
});

describe('buildDriverForTask: errors', () => {
  it('DriverNotFound for an unknown hardware type', () => {
    const error = build(makeNode({ driver: 'fake_agent' }))._unsafeUnwrapErr();
    assert.equal(error.code, 'DriverNotFound');
    assert.equal(error.status, 404);
    assert.match(error.message, /fake_agent/);
  });

  it('DriverNotFound for a registered but disabled hardware type', () => {
    assert.equal(build(makeNode({ driver: 'ipmi' }))._unsafeUnwrapErr().code, 'DriverNotFound');
  });

  it('InterfaceNotFoundInEntrypoint lists the enabled implementations', () => {
    const error = build(makeNode({ power_interface: 'foobar' }))._unsafeUnwrapErr();
    assert.equal(error.code, 'InterfaceNotFoundInEntrypoint');
    assert.equal(error.status, 400);
    assert.deepEqual(error.details['valid'], ['fake']);
    assert.match(error.message, /ironic\.hardware\.interfaces\.power.*foobar.*\["fake"\]/);
  });

  it('InterfaceNotFoundInEntrypoint for a registered implementation that is not enabled', () => {
    const reg = registry({ enabledInterfaces: { raid: ['fake'] } });
    const error = build(makeNode({ raid_interface: 'no-raid' }), reg)._unsafeUnwrapErr();
    assert.equal(error.code, 'InterfaceNotFoundInEntrypoint');
    assert.deepEqual(error.details['valid'], ['fake']);
  });

  it('IncompatibleInterface: ipmi with a fake power interface', () => {
    const reg = registry({ enabledHardwareTypes: ['fake-hardware', 'ipmi'] });
    const error = build(makeNode({ driver: 'ipmi', power_interface: 'fake' }), reg)._unsafeUnwrapErr();
    assert.equal(error.code, 'IncompatibleInterface');
    assert.equal(error.details['interfaceType'], 'power');
    assert.equal(error.details['hardwareType'], 'ipmi');
    assert.deepEqual(error.details['supported'], ['ipmitool']);
  });

  it('IncompatibleInterface from an instance_info override on a real hardware type', () => {
    const reg = registry({ enabledHardwareTypes: ['ipmi'], implementations: ipmiStandIns() });
    assert.ok(build(makeNode({ driver: 'ipmi' }), reg).isOk());
    const error = build(makeNode({ driver: 'ipmi', instance_info: { raid_interface: 'fake' } }), reg)._unsafeUnwrapErr();
    assert.equal(error.code, 'IncompatibleInterface');
    assert.equal(error.details['interfaceType'], 'raid');
  });

  it('a real hardware type resolves once its implementations are registered', () => {
    const reg = registry({ enabledHardwareTypes: ['ipmi'], implementations: ipmiStandIns() });
    const built = build(makeNode({ driver: 'ipmi' }), reg)._unsafeUnwrap();
    assert.deepEqual(
      { ...built.driver.interfaceNames },
      {
        bios: 'no-bios',
        boot: 'ipxe',
        console: 'no-console',
        deploy: 'direct',
        firmware: 'no-firmware',
        inspect: 'no-inspect',
        management: 'ipmitool',
        network: 'flat',
        power: 'ipmitool',
        raid: 'no-raid',
        rescue: 'no-rescue',
        storage: 'noop',
        vendor: 'no-vendor',
      },
    );
  });

  it('fake-hardware accepts any enabled implementation', () => {
    const node = makeNode({
      ...allFakeInterfaces(),
      raid_interface: 'no-raid',
      deploy_interface: 'noop',
      management_interface: 'noop',
      console_interface: 'fake-graphical',
      network_interface: 'flat',
    });
    const built = build(node)._unsafeUnwrap();
    assert.equal(built.driver.raid.name, 'no-raid');
    assert.equal(built.driver.deploy.name, 'noop');
    assert.equal(built.driver.management.name, 'noop');
    assert.equal(built.driver.console.name, 'fake-graphical');
  });

  it('NoValidDefaultForInterface: manual-management has no enabled boot implementation here', () => {
    const error = build(makeNode({ driver: 'manual-management' }))._unsafeUnwrapErr();
    assert.equal(error.code, 'NoValidDefaultForInterface');
    assert.equal(error.details['interfaceType'], 'boot');
    assert.equal(error.details['hardwareType'], 'manual-management');
  });

  it('NoValidDefaultForInterface when nothing of the type is enabled', () => {
    const reg = registry({ enabledInterfaces: { raid: [] } });
    const node = makeNode();
    const error = build(node, reg)._unsafeUnwrapErr();
    assert.equal(error.code, 'NoValidDefaultForInterface');
    assert.equal(error.details['interfaceType'], 'raid');
    assert.equal(error.details['node'], node.uuid);
  });

  it('NoValidDefaultForInterface when the configured default is incompatible (Ironic HEAD)', () => {
    const minimal = defineHardwareType('minimal', {
      ...Object.fromEntries(INTERFACE_TYPES.map((t) => [t, ['noop', `no-${t}`]])),
      boot: ['fake'],
      power: ['fake'],
      network: ['noop'],
    });
    const reg = registry({ hardwareTypes: [minimal], defaultInterfaces: { management: 'fake' } });
    const error = build(makeNode({ driver: 'minimal' }), reg)._unsafeUnwrapErr();
    assert.equal(error.code, 'NoValidDefaultForInterface');
    assert.equal(error.details['interfaceType'], 'management');
    // Without the configured default the computed one is the supported noop.
    const built = build(makeNode({ driver: 'minimal' }), registry({ hardwareTypes: [minimal] }))._unsafeUnwrap();
    assert.equal(built.driver.management.name, 'noop');
    assert.equal(built.driver.boot.name, 'fake');
  });

  it('reports an explicit mistake before a missing default', () => {
    const reg = registry({ enabledHardwareTypes: ['ipmi'] });
    // boot has no default for ipmi here, but the named power interface is the user's mistake.
    const error = build(makeNode({ driver: 'ipmi', power_interface: 'fake' }), reg)._unsafeUnwrapErr();
    assert.equal(error.code, 'IncompatibleInterface');
  });
});

describe('buildDriverForTask: caching', () => {
  it('shares one BareDriver per interface set', () => {
    const reg = registry();
    const a = build(makeNode(), reg)._unsafeUnwrap();
    const b = build(makeNode({ power_state: 'power on' }), reg)._unsafeUnwrap();
    assert.equal(a.driver, b.driver);
    assert.ok(Object.isFrozen(a.driver));
    const c = build(makeNode({ raid_interface: 'no-raid' }), reg)._unsafeUnwrap();
    assert.notEqual(c.driver, a.driver);
    assert.equal(c.driver.power, a.driver.power);
  });

  it('returns the remembered result for the same node snapshot', () => {
    const reg = registry();
    const node = makeNode();
    const first = build(node, reg)._unsafeUnwrap();
    const second = build(node, reg)._unsafeUnwrap();
    assert.equal(second, first);
    assert.equal(second.node, first.node);
    // A new snapshot of the node is resolved again but gets the same driver.
    const next = produce(node, (draft) => {
      draft.power_state = 'power on';
    });
    const third = build(next, reg)._unsafeUnwrap();
    assert.notEqual(third, first);
    assert.equal(third.driver, first.driver);
  });

  it('does not remember unfrozen nodes (they could change under the cache)', () => {
    const reg = registry();
    const node = { ...makeNode() };
    const first = build(node, reg)._unsafeUnwrap();
    node.raid_interface = 'no-raid';
    const second = build(node, reg)._unsafeUnwrap();
    assert.equal(first.driver.raid.name, 'fake');
    assert.equal(second.driver.raid.name, 'no-raid');
  });

  it('is invalidated by registering', () => {
    const reg = registry();
    const node = makeNode();
    const first = build(node, reg)._unsafeUnwrap();
    assert.ok(
      reg
        .registerInterface(
          defineInterface('rescue', 'extra', {
            validate: done,
            rescue: async () => 'rescue' as const,
            unrescue: async () => 'active' as const,
          }),
        )
        .isOk(),
    );
    const second = build(node, reg)._unsafeUnwrap();
    assert.notEqual(second, first);
    assert.notEqual(second.driver, first.driver);
    assert.deepEqual(second.driver.interfaceNames, first.driver.interfaceNames);
  });

  it('does not remember errors', () => {
    const reg = registry();
    const node = makeNode({ power_interface: 'foobar' });
    const a = build(node, reg)._unsafeUnwrapErr();
    const b = build(node, reg)._unsafeUnwrapErr();
    assert.notEqual(a, b);
  });
});

describe('buildDriverForTask: frozen output', () => {
  it('a plain (unfrozen) node gets a deeply frozen result, its nested objects included', () => {
    // Top level and nested objects plain (makeNode deep-freezes, so copy both levels).
    const node = { ...makeNode(), driver_info: { ipmi_address: '10.0.0.1' } } as NodeRecord;
    assert.ok(!Object.isFrozen(node.driver_info));
    const built = build(node);
    assert.ok(built.isOk());
    const filled = built.value.node;
    assert.notEqual(filled, node, 'defaults were filled');
    assert.ok(Object.isFrozen(filled));
    assert.ok(Object.isFrozen(filled.driver_info), 'nested objects are frozen too');
    assert.throws(() => {
      (filled.driver_info as Record<string, unknown>).ipmi_address = 'changed';
    }, TypeError);
  });
});
