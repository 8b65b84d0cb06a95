/**
 * The behaviour-driven fake implementations (Ironic `ironic/drivers/modules/fake.py`): `fake` for
 * every interface type except network, which has no `fake` in Ironic; its `flat` is simulated here
 * the same way. Every operation goes through the FakeEngine (delay, failure injection, abort) and
 * then returns what Ironic's fakes return. Nothing is saved: results are returned to the caller.
 */
import { InvalidParameterValue } from '../../errors.js';
import type { JsonObject } from '../../node.js';
import { defineInterface, exclusiveOperation } from '../define-interface.js';
import type { DriverTask } from '../driver-task.js';
import {
  POWER_TARGETS,
  type AnyDriverInterface,
  type BootDevice,
  type CleanStep,
  type PowerTarget,
  type StablePowerState,
  type VendorRoute,
} from '../interfaces.js';
import type { FakeEngine } from './fake-engine.js';

const nothing = (): void => undefined;

/** Targets fake power accepts in setPowerState (rebooting goes through reboot, as Ironic's FakePower). */
const SETTABLE: readonly PowerTarget[] = ['power on', 'power off', 'soft rebooting', 'soft power off'];

/** Where each power target ends. */
const STABLE_AFTER: Readonly<Record<PowerTarget, StablePowerState>> = {
  'power on': 'power on',
  'power off': 'power off',
  rebooting: 'power on',
  'soft rebooting': 'power on',
  'soft power off': 'power off',
};

/** Boot devices the fake management supports (Ironic's FakeManagement: PXE only). */
const FAKE_BOOT_DEVICES: readonly BootDevice[] = Object.freeze(['pxe']);

/** Clean steps of the fake deploy: those of Ironic's agent deploy, so cleaning has work to do. */
export const FAKE_CLEAN_STEPS: readonly CleanStep[] = Object.freeze([
  Object.freeze({ interface: 'deploy', step: 'erase_devices_metadata', priority: 99, abortable: true }),
  Object.freeze({ interface: 'deploy', step: 'erase_devices', priority: 10, abortable: true }),
] as const);

/** Routes of the fake vendor interface (Ironic's FakeVendorB). */
const FAKE_VENDOR_ROUTES: Readonly<Record<string, VendorRoute>> = Object.freeze({
  first_method: route(true, true, 'Test if the value of bar is kazoo'),
  second_method: route(true, true, 'Test if the value of bar is meow'),
  third_method_sync: route(false, true, 'Test if the value of bar is meow'),
  fourth_method_shared_lock: route(true, false, 'Test if the value of bar is meow'),
});

/** Which value of `bar` makes each fake vendor method answer true. */
const FAKE_VENDOR_EXPECTS: Readonly<Record<string, string>> = {
  first_method: 'kazoo',
  second_method: 'meow',
  third_method_sync: 'meow',
  fourth_method_shared_lock: 'meow',
};

function route(async: boolean, requireExclusiveLock: boolean, description: string): VendorRoute {
  return Object.freeze({ httpMethods: Object.freeze(['POST']), async, requireExclusiveLock, description });
}

function checkVendorCall(method: string, args: Readonly<JsonObject> | undefined): void {
  if (!Object.hasOwn(FAKE_VENDOR_ROUTES, method)) {
    throw new InvalidParameterValue(`Unsupported method (${method}) passed to the fake vendor interface.`, { method });
  }
  if (method !== 'first_method' && !args?.['bar']) {
    throw new InvalidParameterValue(`Parameter 'bar' not passed to method '${method}'.`, { method });
  }
}

/** The `fake` implementations of all interface types plus `fake-graphical` console and `flat` network. */
export function createFakeImplementations(engine: FakeEngine): AnyDriverInterface[] {
  const validate = (type: string) => (task: DriverTask) => engine.run(`${type}.validate`, task, nothing);
  const step = (operation: string) => (task: DriverTask) => engine.run(operation, task, nothing);

  const fakeConsole = (name: string, consoleType: string) =>
    defineInterface('console', name, {
      validate: validate('console'),
      startConsole: step('console.startConsole'),
      stopConsole: step('console.stopConsole'),
      getConsole: (task) => engine.run('console.getConsole', task, () => Object.freeze({ type: consoleType, url: null })),
    });

  const vendorCall = async (task: DriverTask, method: string, args?: Readonly<JsonObject>) => {
    checkVendorCall(method, args);
    return engine.run('vendor.callMethod', task, () => args?.['bar'] === FAKE_VENDOR_EXPECTS[method]);
  };
  const exclusiveVendorCall = exclusiveOperation('vendor.callMethod', vendorCall);

  return [
    defineInterface('bios', 'fake', {
      validate: validate('bios'),
      applyConfiguration: (task) => engine.run('bios.applyConfiguration', task, nothing),
      factoryReset: step('bios.factoryReset'),
      cacheBiosSettings: (task) => engine.run('bios.cacheBiosSettings', task, () => []),
    }),
    defineInterface('boot', 'fake', {
      validate: validate('boot'),
      prepareRamdisk: (task) => engine.run('boot.prepareRamdisk', task, nothing),
      cleanUpRamdisk: step('boot.cleanUpRamdisk'),
      prepareInstance: step('boot.prepareInstance'),
      cleanUpInstance: step('boot.cleanUpInstance'),
    }),
    fakeConsole('fake', 'fake'),
    fakeConsole('fake-graphical', 'vnc'),
    defineInterface('deploy', 'fake', {
      validate: validate('deploy'),
      deploy: (task) => engine.run('deploy.deploy', task, () => null),
      tearDown: (task) => engine.run('deploy.tearDown', task, () => 'deleted' as const),
      prepare: step('deploy.prepare'),
      cleanUp: step('deploy.cleanUp'),
      takeOver: step('deploy.takeOver'),
      prepareCleaning: (task) => engine.run('deploy.prepareCleaning', task, () => null),
      tearDownCleaning: step('deploy.tearDownCleaning'),
      getCleanSteps: (task) => engine.run('deploy.getCleanSteps', task, () => FAKE_CLEAN_STEPS),
      executeCleanStep: async (task, cleanStep) => {
        if (cleanStep.interface !== 'deploy' || !FAKE_CLEAN_STEPS.some((s) => s.step === cleanStep.step)) {
          throw new InvalidParameterValue(`Unknown clean step ${cleanStep.interface}.${cleanStep.step} for the fake deploy.`, {
            step: cleanStep.step,
          });
        }
        return engine.run('deploy.executeCleanStep', task, () => null);
      },
    }),
    defineInterface('firmware', 'fake', {
      validate: validate('firmware'),
      update: (task) => engine.run('firmware.update', task, nothing),
      cacheFirmwareComponents: (task) => engine.run('firmware.cacheFirmwareComponents', task, () => []),
    }),
    defineInterface('inspect', 'fake', {
      validate: validate('inspect'),
      inspectHardware: (task) => engine.run('inspect.inspectHardware', task, () => 'manageable' as const),
    }),
    defineInterface('management', 'fake', {
      validate: validate('management'),
      getSupportedBootDevices: (task) => engine.run('management.getSupportedBootDevices', task, () => FAKE_BOOT_DEVICES),
      getBootDevice: (task) =>
        engine.run('management.getBootDevice', task, () => Object.freeze({ bootDevice: 'pxe' as const, persistent: false })),
      setBootDevice: async (task, device) => {
        if (!FAKE_BOOT_DEVICES.includes(device)) {
          throw new InvalidParameterValue(`Invalid boot device ${String(device)} specified.`, { device });
        }
        return engine.run('management.setBootDevice', task, nothing);
      },
      getSensorsData: (task) => engine.run('management.getSensorsData', task, () => Object.freeze({})),
    }),
    defineInterface('network', 'flat', {
      validate: validate('network'),
      addProvisioningNetwork: step('network.addProvisioningNetwork'),
      removeProvisioningNetwork: step('network.removeProvisioningNetwork'),
      configureTenantNetworks: step('network.configureTenantNetworks'),
      unconfigureTenantNetworks: step('network.unconfigureTenantNetworks'),
      addCleaningNetwork: step('network.addCleaningNetwork'),
      removeCleaningNetwork: step('network.removeCleaningNetwork'),
    }),
    defineInterface('power', 'fake', {
      validate: validate('power'),
      // Read when the operation completes, so a delayed read sees the task's current node.
      getPowerState: (task) => engine.run('power.getPowerState', task, () => task.node.power_state ?? 'power off'),
      setPowerState: async (task, state) => {
        if (!SETTABLE.includes(state)) {
          throw new InvalidParameterValue(`set_power_state called with an invalid power state: ${String(state)}.`, { state });
        }
        return engine.run('power.setPowerState', task, () => STABLE_AFTER[state]);
      },
      reboot: (task) => engine.run('power.reboot', task, () => 'power on' as const),
      getSupportedPowerStates: (task) => engine.run('power.getSupportedPowerStates', task, () => POWER_TARGETS),
    }),
    defineInterface('raid', 'fake', {
      validate: validate('raid'),
      createConfiguration: (task) => engine.run('raid.createConfiguration', task, () => null),
      deleteConfiguration: (task) => engine.run('raid.deleteConfiguration', task, () => null),
      validateRaidConfig: (task) => engine.run('raid.validateRaidConfig', task, nothing),
    }),
    defineInterface('rescue', 'fake', {
      validate: validate('rescue'),
      rescue: (task) => engine.run('rescue.rescue', task, () => 'rescue' as const),
      unrescue: (task) => engine.run('rescue.unrescue', task, () => 'active' as const),
    }),
    defineInterface('storage', 'fake', {
      validate: validate('storage'),
      attachVolumes: step('storage.attachVolumes'),
      detachVolumes: step('storage.detachVolumes'),
      shouldWriteImage: (task) => engine.run('storage.shouldWriteImage', task, () => true),
    }),
    defineInterface('vendor', 'fake', {
      routes: FAKE_VENDOR_ROUTES,
      validate: async (task, method, args) => {
        if (method !== undefined) checkVendorCall(method, args);
        return engine.run('vendor.validate', task, nothing);
      },
      callMethod: (task, method, args) => {
        // The lock requirement is per route; unknown methods fall through to the InvalidParameterValue.
        const needsExclusive = FAKE_VENDOR_ROUTES[method]?.requireExclusiveLock ?? false;
        return needsExclusive ? exclusiveVendorCall(task, method, args) : vendorCall(task, method, args);
      },
    }),
  ];
}
