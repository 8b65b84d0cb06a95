/**
 * Ironic's do-nothing implementations (`ironic/drivers/modules/noop.py`, `noop_mgmt.py`,
 * `network/noop.py`, `storage/noop.py`): `noop` ones succeed at once; `no-*` ones
 * (Ironic's FailMixin) reject validate and every operation with UnsupportedDriverExtension, except
 * the cache reads Ironic lets pass. They take no delay and never fail by injection: they do no work.
 */
import { InvalidParameterValue } from '../../errors.js';
import type { InterfaceType } from '../../node.js';
import { defineInterface } from '../define-interface.js';
import type { DriverTask } from '../driver-task.js';
import { BOOT_DEVICES, type AnyDriverInterface, type BootDevice } from '../interfaces.js';
import { UnsupportedDriverExtension } from '../unsupported-driver-extension.js';

const done = async (): Promise<void> => undefined;

/** An operation that rejects with UnsupportedDriverExtension for `type`. */
const unsupported =
  (type: InterfaceType) =>
  async (task: DriverTask): Promise<never> => {
    throw new UnsupportedDriverExtension(task.node.driver, type);
  };

/** `noop` deploy/management/network/storage and `no-*` bios/console/firmware/inspect/raid/rescue/vendor. */
export function createNoopImplementations(): AnyDriverInterface[] {
  return [
    defineInterface('bios', 'no-bios', {
      validate: unsupported('bios'),
      applyConfiguration: unsupported('bios'),
      factoryReset: unsupported('bios'),
      cacheBiosSettings: async () => [],
    }),
    defineInterface('console', 'no-console', {
      validate: unsupported('console'),
      startConsole: unsupported('console'),
      stopConsole: unsupported('console'),
      getConsole: unsupported('console'),
    }),
    defineInterface('deploy', 'noop', {
      validate: done,
      deploy: async () => null,
      tearDown: async () => 'deleted' as const,
      prepare: done,
      cleanUp: done,
      takeOver: done,
      prepareCleaning: async () => null,
      tearDownCleaning: done,
      getCleanSteps: async () => [],
      executeCleanStep: async (_task, step) => {
        throw new InvalidParameterValue(`The noop deploy has no clean step ${step.interface}.${step.step}.`, { step: step.step });
      },
    }),
    defineInterface('firmware', 'no-firmware', {
      validate: unsupported('firmware'),
      update: unsupported('firmware'),
      cacheFirmwareComponents: async () => [],
    }),
    defineInterface('inspect', 'no-inspect', {
      validate: unsupported('inspect'),
      inspectHardware: unsupported('inspect'),
    }),
    defineInterface('management', 'noop', {
      validate: done,
      getSupportedBootDevices: async () => BOOT_DEVICES,
      getBootDevice: async () => ({ bootDevice: null, persistent: null }),
      setBootDevice: async (_task, device: BootDevice) => {
        if (!BOOT_DEVICES.includes(device)) {
          throw new InvalidParameterValue(`Invalid boot device ${String(device)} specified.`, { device });
        }
      },
      getSensorsData: async () => ({}),
    }),
    defineInterface('network', 'noop', {
      validate: done,
      addProvisioningNetwork: done,
      removeProvisioningNetwork: done,
      configureTenantNetworks: done,
      unconfigureTenantNetworks: done,
      addCleaningNetwork: done,
      removeCleaningNetwork: done,
    }),
    defineInterface('raid', 'no-raid', {
      validate: unsupported('raid'),
      createConfiguration: unsupported('raid'),
      deleteConfiguration: unsupported('raid'),
      validateRaidConfig: unsupported('raid'),
    }),
    defineInterface('rescue', 'no-rescue', {
      validate: unsupported('rescue'),
      rescue: unsupported('rescue'),
      unrescue: unsupported('rescue'),
    }),
    defineInterface('storage', 'noop', {
      validate: done,
      attachVolumes: done,
      detachVolumes: done,
      shouldWriteImage: async () => true,
    }),
    defineInterface('vendor', 'no-vendor', {
      routes: Object.freeze({}),
      validate: unsupported('vendor'),
      callMethod: unsupported('vendor'),
    }),
  ];
}
