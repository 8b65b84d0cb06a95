/**
 * Contracts of the 13 driver interface types (Ironic `ironic/drivers/base.py`), kept small: the
 * operations the conductor drives. Every operation is async, takes the task first, honours
 * `task.signal` and rejects on failure. Drivers never save the node: they return what changed
 * (a power state, a provision-state hint) and the caller writes it.
 */
import type { InterfaceType, JsonObject, JsonValue } from '../node.js';
import type { DriverTask } from './driver-task.js';

/** Power targets accepted by a power interface (Ironic `states.POWER_ON` ...). */
export const POWER_TARGETS = ['power on', 'power off', 'rebooting', 'soft rebooting', 'soft power off'] as const;
/** A power target. */
export type PowerTarget = (typeof POWER_TARGETS)[number];
/** A stable power state a power operation ends in. */
export type StablePowerState = 'power on' | 'power off';

/** Boot devices (Ironic `ironic/common/boot_devices.py`). */
export const BOOT_DEVICES = ['pxe', 'disk', 'cdrom', 'bios', 'safe', 'wanboot', 'iscsiboot', 'floppy', 'uefi-http'] as const;
/** A boot device. */
export type BootDevice = (typeof BOOT_DEVICES)[number];

/** A clean step as Ironic describes it (`get_clean_steps`). */
export interface CleanStep {
  readonly interface: InterfaceType;
  readonly step: string;
  /** 0 = manual only; higher runs first in automated cleaning. */
  readonly priority: number;
  /** Whether the step may be aborted while running. Default false. */
  readonly abortable?: boolean;
  readonly args?: Readonly<JsonObject>;
}

/** Provision-state hint: the operation goes on asynchronously and a call-back will finish it. */
export type WaitHint = 'wait call-back' | 'clean wait' | 'inspect wait' | 'rescue wait';

/** Fields every implementation has. */
export interface DriverInterface<T extends InterfaceType = InterfaceType> {
  /** Entry-point name, e.g. `fake`, `no-raid`, `flat`. */
  readonly name: string;
  readonly interfaceType: T;
  /** Check that the node is configured for this interface. Rejects when it is not. */
  validate(task: DriverTask): Promise<void>;
}

/** BIOS settings (optional interface). */
export interface BiosInterface extends DriverInterface<'bios'> {
  applyConfiguration(task: DriverTask, settings: readonly BiosSetting[]): Promise<void>;
  factoryReset(task: DriverTask): Promise<void>;
  /** Read the current settings; the caller stores them (Ironic caches them in the DB). */
  cacheBiosSettings(task: DriverTask): Promise<readonly BiosSetting[]>;
}

/** One BIOS setting. */
export interface BiosSetting {
  readonly name: string;
  readonly value: string | null;
}

/** Booting the deploy ramdisk and the instance (core interface). */
export interface BootInterface extends DriverInterface<'boot'> {
  prepareRamdisk(task: DriverTask, ramdiskParams?: Readonly<JsonObject>): Promise<void>;
  cleanUpRamdisk(task: DriverTask): Promise<void>;
  prepareInstance(task: DriverTask): Promise<void>;
  cleanUpInstance(task: DriverTask): Promise<void>;
}

/** Serial or graphical console (optional interface). */
export interface ConsoleInterface extends DriverInterface<'console'> {
  startConsole(task: DriverTask): Promise<void>;
  stopConsole(task: DriverTask): Promise<void>;
  getConsole(task: DriverTask): Promise<ConsoleInfo>;
}

/** Where a console can be reached. */
export interface ConsoleInfo {
  readonly type: string;
  readonly url: string | null;
}

/** Writing an image and tearing it down (core interface). */
export interface DeployInterface extends DriverInterface<'deploy'> {
  /** Resolves `null` when done, or `wait call-back` when an agent will finish the deploy. */
  deploy(task: DriverTask): Promise<'wait call-back' | null>;
  /** Resolves `deleted` (Ironic `states.DELETED`). */
  tearDown(task: DriverTask): Promise<'deleted'>;
  prepare(task: DriverTask): Promise<void>;
  cleanUp(task: DriverTask): Promise<void>;
  /** Take over a deployed node from a dead conductor. */
  takeOver(task: DriverTask): Promise<void>;
  /** Resolves `null` when ready, or `clean wait` when cleaning continues asynchronously. */
  prepareCleaning(task: DriverTask): Promise<'clean wait' | null>;
  tearDownCleaning(task: DriverTask): Promise<void>;
  getCleanSteps(task: DriverTask): Promise<readonly CleanStep[]>;
  /** Resolves `null` when the step is done, or `clean wait` when it continues asynchronously. */
  executeCleanStep(task: DriverTask, step: CleanStep): Promise<'clean wait' | null>;
}

/** Firmware updates (optional interface). */
export interface FirmwareInterface extends DriverInterface<'firmware'> {
  update(task: DriverTask, updates: readonly FirmwareUpdate[]): Promise<void>;
  /** Read the firmware components; the caller stores them. */
  cacheFirmwareComponents(task: DriverTask): Promise<readonly FirmwareComponent[]>;
}

/** A requested firmware update. */
export interface FirmwareUpdate {
  readonly component: string;
  readonly url: string;
}

/** An installed firmware component. */
export interface FirmwareComponent {
  readonly component: string;
  readonly currentVersion: string;
}

/** Hardware introspection (optional interface). */
export interface InspectInterface extends DriverInterface<'inspect'> {
  /** Resolves the next provision state: `manageable` when done, `inspect wait` when asynchronous. */
  inspectHardware(task: DriverTask): Promise<'manageable' | 'inspect wait'>;
}

/** Boot device and sensors (core interface). */
export interface ManagementInterface extends DriverInterface<'management'> {
  getSupportedBootDevices(task: DriverTask): Promise<readonly BootDevice[]>;
  /** `bootDevice`/`persistent` are null when unknown. */
  getBootDevice(task: DriverTask): Promise<{ readonly bootDevice: BootDevice | null; readonly persistent: boolean | null }>;
  /** Default `persistent = false`. Rejects with InvalidParameterValue for an unsupported device. */
  setBootDevice(task: DriverTask, device: BootDevice, persistent?: boolean): Promise<void>;
  getSensorsData(task: DriverTask): Promise<Readonly<JsonObject>>;
}

/** Wiring the node's ports to networks (core interface). */
export interface NetworkInterface extends DriverInterface<'network'> {
  addProvisioningNetwork(task: DriverTask): Promise<void>;
  removeProvisioningNetwork(task: DriverTask): Promise<void>;
  configureTenantNetworks(task: DriverTask): Promise<void>;
  unconfigureTenantNetworks(task: DriverTask): Promise<void>;
  addCleaningNetwork(task: DriverTask): Promise<void>;
  removeCleaningNetwork(task: DriverTask): Promise<void>;
}

/** Power control (core interface). */
export interface PowerInterface extends DriverInterface<'power'> {
  /** The current power state. */
  getPowerState(task: DriverTask): Promise<string>;
  /**
   * Drive the node to `state`; resolves with the stable state reached. `timeoutMs` bounds the wait
   * (Ironic `timeout`); default: the implementation's own.
   */
  setPowerState(task: DriverTask, state: PowerTarget, timeoutMs?: number): Promise<StablePowerState>;
  /** Hard reboot; resolves with the stable state reached (`power on`). */
  reboot(task: DriverTask, timeoutMs?: number): Promise<StablePowerState>;
  getSupportedPowerStates(task: DriverTask): Promise<readonly PowerTarget[]>;
}

/** RAID configuration (optional interface). */
export interface RaidInterface extends DriverInterface<'raid'> {
  /** Defaults: both true. Resolves `null` when done, `clean wait` when asynchronous. */
  createConfiguration(
    task: DriverTask,
    options?: { readonly createRootVolume?: boolean; readonly createNonrootVolumes?: boolean },
  ): Promise<'clean wait' | null>;
  deleteConfiguration(task: DriverTask): Promise<'clean wait' | null>;
  validateRaidConfig(task: DriverTask, config: Readonly<JsonObject>): Promise<void>;
}

/** Rescue mode (optional interface). */
export interface RescueInterface extends DriverInterface<'rescue'> {
  /** Resolves `rescue` when done, `rescue wait` when asynchronous. */
  rescue(task: DriverTask): Promise<'rescue' | 'rescue wait'>;
  /** Resolves `active`. */
  unrescue(task: DriverTask): Promise<'active'>;
}

/** Remote volumes (optional interface). */
export interface StorageInterface extends DriverInterface<'storage'> {
  attachVolumes(task: DriverTask): Promise<void>;
  detachVolumes(task: DriverTask): Promise<void>;
  /** False for boot-from-volume: no image is written. */
  shouldWriteImage(task: DriverTask): Promise<boolean>;
}

/** A vendor passthru method (Ironic `@base.passthru`). */
export interface VendorRoute {
  readonly httpMethods: readonly string[];
  /** Whether Ironic runs it in a background worker. */
  readonly async: boolean;
  /** Whether the call needs an exclusive task. */
  readonly requireExclusiveLock: boolean;
  readonly description: string;
}

/** Vendor passthru (optional interface). */
export interface VendorInterface extends DriverInterface<'vendor'> {
  /** Methods callable through callMethod, by name. */
  readonly routes: Readonly<Record<string, VendorRoute>>;
  /** Validate the node, and a call to `method` with `args` when given. */
  validate(task: DriverTask, method?: string, args?: Readonly<JsonObject>): Promise<void>;
  /** Call a route. Unknown method → InvalidParameterValue; exclusive routes need an exclusive task. */
  callMethod(task: DriverTask, method: string, args?: Readonly<JsonObject>): Promise<JsonValue>;
}

/** Interface type → its contract. */
export interface InterfaceMap {
  bios: BiosInterface;
  boot: BootInterface;
  console: ConsoleInterface;
  deploy: DeployInterface;
  firmware: FirmwareInterface;
  inspect: InspectInterface;
  management: ManagementInterface;
  network: NetworkInterface;
  power: PowerInterface;
  raid: RaidInterface;
  rescue: RescueInterface;
  storage: StorageInterface;
  vendor: VendorInterface;
}

/** Any implementation of any interface type. */
export type AnyDriverInterface = InterfaceMap[InterfaceType];

/** Names of the operations (function members) of an interface contract. */
export type OperationName<I> = {
  [K in keyof I]-?: I[K] extends (...args: never[]) => unknown ? K : never;
}[keyof I] &
  string;

/** Every operation of every interface type, by type. Fake failure injection keys are `<type>.<operation>`. */
export const INTERFACE_OPERATIONS = {
  bios: ['validate', 'applyConfiguration', 'factoryReset', 'cacheBiosSettings'],
  boot: ['validate', 'prepareRamdisk', 'cleanUpRamdisk', 'prepareInstance', 'cleanUpInstance'],
  console: ['validate', 'startConsole', 'stopConsole', 'getConsole'],
  deploy: [
    'validate',
    'deploy',
    'tearDown',
    'prepare',
    'cleanUp',
    'takeOver',
    'prepareCleaning',
    'tearDownCleaning',
    'getCleanSteps',
    'executeCleanStep',
  ],
  firmware: ['validate', 'update', 'cacheFirmwareComponents'],
  inspect: ['validate', 'inspectHardware'],
  management: ['validate', 'getSupportedBootDevices', 'getBootDevice', 'setBootDevice', 'getSensorsData'],
  network: [
    'validate',
    'addProvisioningNetwork',
    'removeProvisioningNetwork',
    'configureTenantNetworks',
    'unconfigureTenantNetworks',
    'addCleaningNetwork',
    'removeCleaningNetwork',
  ],
  power: ['validate', 'getPowerState', 'setPowerState', 'reboot', 'getSupportedPowerStates'],
  raid: ['validate', 'createConfiguration', 'deleteConfiguration', 'validateRaidConfig'],
  rescue: ['validate', 'rescue', 'unrescue'],
  storage: ['validate', 'attachVolumes', 'detachVolumes', 'shouldWriteImage'],
  vendor: ['validate', 'callMethod'],
} as const satisfies { readonly [K in InterfaceType]: readonly OperationName<InterfaceMap[K]>[] };

/**
 * Operations that change the machine and so need the exclusive lock (wrapped with requireExclusive
 * by defineInterface). Vendor routes decide per route (`requireExclusiveLock`).
 */
export const EXCLUSIVE_OPERATIONS = {
  bios: ['applyConfiguration', 'factoryReset'],
  boot: ['prepareRamdisk', 'cleanUpRamdisk', 'prepareInstance', 'cleanUpInstance'],
  console: ['startConsole', 'stopConsole'],
  deploy: ['deploy', 'tearDown', 'prepare', 'cleanUp', 'takeOver', 'prepareCleaning', 'tearDownCleaning', 'executeCleanStep'],
  firmware: ['update'],
  inspect: ['inspectHardware'],
  management: ['setBootDevice'],
  network: [
    'addProvisioningNetwork',
    'removeProvisioningNetwork',
    'configureTenantNetworks',
    'unconfigureTenantNetworks',
    'addCleaningNetwork',
    'removeCleaningNetwork',
  ],
  power: ['setPowerState', 'reboot'],
  raid: ['createConfiguration', 'deleteConfiguration'],
  rescue: ['rescue', 'unrescue'],
  storage: ['attachVolumes', 'detachVolumes'],
  vendor: [],
} as const satisfies { readonly [K in InterfaceType]: readonly OperationName<InterfaceMap[K]>[] };

// Compile-time check that INTERFACE_OPERATIONS lists every operation of every contract.
type Missing<K extends InterfaceType> = Exclude<OperationName<InterfaceMap[K]>, (typeof INTERFACE_OPERATIONS)[K][number]>;
type AllListed = { [K in InterfaceType]: Missing<K> extends never ? true : Missing<K> };
const allListed: AllListed = {
  bios: true,
  boot: true,
  console: true,
  deploy: true,
  firmware: true,
  inspect: true,
  management: true,
  network: true,
  power: true,
  raid: true,
  rescue: true,
  storage: true,
  vendor: true,
};
void allListed;

/** `<type>.<operation>` for every operation of every interface type. */
export const ALL_OPERATION_NAMES: ReadonlySet<string> = new Set(
  Object.entries(INTERFACE_OPERATIONS).flatMap(([type, ops]) => ops.map((op) => `${type}.${op}`)),
);
