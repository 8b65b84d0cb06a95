/**
 * The `fake-hardware` hardware type (Ironic `FakeHardware`, a GenericHardware): `fake` first in
 * every supported list, so the computed defaults are the fakes (network: `flat`), and it accepts
 * any enabled implementation so tests can combine interfaces freely.
 */
import { defineHardwareType, type HardwareType } from '../hardware-type.js';
import { GENERIC_SUPPORTED as G } from '../ironic-hardware-types.js';

/** `fake-hardware`. */
export const FAKE_HARDWARE: HardwareType = defineHardwareType(
  'fake-hardware',
  {
    bios: ['fake', ...G.bios],
    boot: ['fake', ...G.boot],
    console: ['fake', ...G.console],
    deploy: ['fake', ...G.deploy],
    firmware: ['fake', ...G.firmware],
    inspect: ['fake', ...G.inspect],
    management: ['fake'],
    network: G.network,
    power: ['fake'],
    raid: ['fake', ...G.raid],
    rescue: ['fake', ...G.rescue],
    storage: ['fake', ...G.storage],
    vendor: ['fake', ...G.vendor],
  },
  true,
);
