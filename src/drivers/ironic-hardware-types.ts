/**
 * Ironic's real hardware types at HEAD (`ironic/drivers/{generic,ipmi,intel_ipmi,redfish,drac}.py`)
 * with their supported lists as entry-point names. Most of those implementations do not exist
 * here (only fake, noop and no-* do); the types are registered anyway so that resolution fails
 * the way Ironic's does: IncompatibleInterface, NoValidDefaultForInterface.
 */
import { defineHardwareType, type HardwareType, type SupportedLists } from './hardware-type.js';

/** `GenericHardware` plus the `AbstractHardwareType` defaults (power and management are abstract). */
export const GENERIC_SUPPORTED = Object.freeze({
  bios: ['no-bios'],
  boot: ['ipxe', 'pxe', 'http-ipxe', 'http'],
  console: ['no-console', 'fake-graphical'],
  deploy: ['autodetect', 'direct', 'ansible', 'ramdisk', 'anaconda', 'bootc', 'custom-agent'],
  firmware: ['no-firmware'],
  inspect: ['agent', 'no-inspect'],
  network: ['flat', 'neutron', 'ironic-networking', 'noop'],
  raid: ['no-raid', 'agent'],
  rescue: ['no-rescue', 'agent'],
  storage: ['noop', 'cinder', 'external'],
  vendor: ['no-vendor'],
} satisfies SupportedLists);

/** `manual-management`: operator-driven power and boot. */
export const MANUAL_MANAGEMENT: HardwareType = defineHardwareType('manual-management', {
  ...GENERIC_SUPPORTED,
  deploy: [...GENERIC_SUPPORTED.deploy, 'noop'],
  management: ['noop', 'fake'],
  power: ['agent', 'fake'],
  vendor: ['no-vendor'],
});

const IPMI_SUPPORTED = {
  ...GENERIC_SUPPORTED,
  console: ['ipmitool-socat', 'no-console'],
  management: ['ipmitool'],
  power: ['ipmitool'],
  vendor: ['ipmitool', 'no-vendor'],
} satisfies SupportedLists;

/** `ipmi`: ipmitool power and management. */
export const IPMI: HardwareType = defineHardwareType('ipmi', IPMI_SUPPORTED);

/** `intel-ipmi`: ipmi with Intel SST-PP management. */
export const INTEL_IPMI: HardwareType = defineHardwareType('intel-ipmi', {
  ...IPMI_SUPPORTED,
  management: ['intel-ipmitool'],
});

const REDFISH_SUPPORTED = {
  ...GENERIC_SUPPORTED,
  bios: ['redfish', 'no-bios'],
  boot: [...GENERIC_SUPPORTED.boot, 'redfish-virtual-media', 'redfish-https'],
  // Unverified at HEAD: the graphical console's place in redfish's list.
  console: [...GENERIC_SUPPORTED.console, 'redfish-graphical'],
  firmware: ['redfish', 'no-firmware'],
  inspect: ['redfish', ...GENERIC_SUPPORTED.inspect],
  management: ['redfish', 'noop'],
  power: ['redfish'],
  raid: ['redfish', 'no-raid', 'agent'],
  vendor: ['redfish', 'no-vendor'],
} satisfies SupportedLists;

/** `redfish`. */
export const REDFISH: HardwareType = defineHardwareType('redfish', REDFISH_SUPPORTED);

const swap = (list: readonly string[], from: string, to: string): string[] => list.map((n) => (n === from ? to : n));

/** `idrac`: redfish with the Dell-specific implementations swapped in. */
export const IDRAC: HardwareType = defineHardwareType('idrac', {
  ...REDFISH_SUPPORTED,
  bios: ['idrac-redfish', ...REDFISH_SUPPORTED.bios],
  boot: swap(REDFISH_SUPPORTED.boot, 'redfish-virtual-media', 'idrac-redfish-virtual-media'),
  inspect: swap(REDFISH_SUPPORTED.inspect, 'redfish', 'idrac-redfish'),
  management: ['idrac-redfish'],
  power: ['idrac-redfish', ...REDFISH_SUPPORTED.power],
  raid: swap(REDFISH_SUPPORTED.raid, 'redfish', 'idrac-redfish'),
  vendor: ['idrac-redfish', ...REDFISH_SUPPORTED.vendor],
});

/** The non-fake hardware types registered in every registry. */
export const IRONIC_HARDWARE_TYPES: readonly HardwareType[] = Object.freeze([MANUAL_MANAGEMENT, IPMI, INTEL_IPMI, REDFISH, IDRAC]);
