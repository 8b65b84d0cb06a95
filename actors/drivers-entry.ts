/**
 * `metal-conductor/drivers`: for authors of hardware types and interface implementations (passed as
 * `Conductor.open({ drivers: { hardwareTypes, implementations } })`). Drivers follow Ironic's driver
 * contract: operations are async, take the task first, honour `task.signal`, and reject on failure
 * (a background worker records the rejection in `last_error`).
 */
export { defineHardwareType, type HardwareType, type SupportedLists } from '../src/drivers/hardware-type.js';
export { defineInterface, exclusiveOperation, type InterfaceBody } from '../src/drivers/define-interface.js';
export { makeDriverTask, type DriverTask, type DriverTaskOptions } from '../src/drivers/driver-task.js';
export { IRONIC_HARDWARE_TYPES, MANUAL_MANAGEMENT } from '../src/drivers/ironic-hardware-types.js';
export { FAKE_HARDWARE } from '../src/drivers/fake/fake-hardware.js';
export { FAKE_CLEAN_STEPS } from '../src/drivers/fake/fake-interfaces.js';
export { DEFAULT_ENABLED_HARDWARE_TYPES, type DriverRegistryOptions } from '../src/drivers/registry.js';
export type { FakeBehaviour } from '../src/drivers/fake/fake-behaviour.js';
export type { BareDriver } from '../src/drivers/build-driver.js';
export {
  BOOT_DEVICES,
  POWER_TARGETS,
  type AnyDriverInterface,
  type BiosInterface,
  type BiosSetting,
  type BootDevice,
  type BootInterface,
  type CleanStep,
  type ConsoleInfo,
  type ConsoleInterface,
  type DeployInterface,
  type DriverInterface,
  type FirmwareComponent,
  type FirmwareInterface,
  type FirmwareUpdate,
  type InspectInterface,
  type InterfaceMap,
  type ManagementInterface,
  type NetworkInterface,
  type PowerInterface,
  type PowerTarget,
  type RaidInterface,
  type RescueInterface,
  type StablePowerState,
  type StorageInterface,
  type VendorInterface,
  type VendorRoute,
  type WaitHint,
} from '../src/drivers/interfaces.js';
