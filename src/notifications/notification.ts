/**
 * Notifications, as Ironic's versioned notifications: `baremetal.node.provision_set.<status>`
 * with a level and a payload that is the node without secrets or reservation, plus the event and
 * the previous states.
 */
import type { NotificationLevel } from '../config.js';
import type { JsonObject, NodeRecord } from '../node.js';

import type { ProvisionSetStatus } from './provision-status.js';

/** Status of a provision_set notification (Ironic NotificationStatus). */
export type NotificationStatus = ProvisionSetStatus;

/**
 * The node as published: every NodeRecord field except those Ironic's NodePayload leaves out
 * (`driver_info`, which holds BMC credentials, and the reservation), with secrets masked.
 */
export type NodePayload = Omit<NodeRecord, 'driver_info' | 'reservation' | 'reservation_purpose' | 'reserved_at'>;

/** Payload of `baremetal.node.provision_set.*` (Ironic NodeSetProvisionStatePayload). */
export interface ProvisionSetPayload extends NodePayload {
  readonly event: string;
  readonly previous_provision_state: string | null;
  readonly previous_target_provision_state: string | null;
}

/** One provision_set notification. */
export interface ProvisionSetNotification {
  /** `baremetal.node.provision_set.<status>`. */
  readonly eventType: `baremetal.node.provision_set.${NotificationStatus}`;
  readonly level: NotificationLevel;
  readonly status: NotificationStatus;
  /** `metal-conductor.<host>` (Ironic: `ironic-conductor.<host>`). */
  readonly publisherId: string;
  readonly timestamp: string;
  /** Request id of the request that caused it, when known. */
  readonly requestId: string | null;
  readonly payload: ProvisionSetPayload;
}

/** Keys whose values are masked in payloads (Ironic `mask_secrets`). */
const SECRET_KEY = /password|secret|token|private_key|configdrive/i;

/** Mask secrets in a JSON object (values of keys that look secret become `******`). */
export function maskSecrets(value: JsonObject): JsonObject {
  let out: JsonObject | null = null;
  for (const [key, inner] of Object.entries(value)) {
    let masked = inner;
    if (SECRET_KEY.test(key) && inner !== null && inner !== '') masked = '******';
    else if (inner && typeof inner === 'object' && !Array.isArray(inner)) masked = maskSecrets(inner);
    if (masked !== inner) {
      out ??= { ...value };
      out[key] = masked;
    }
  }
  return out ?? value;
}

/** Build the payload of a provision_set notification from a node snapshot. */
export function provisionSetPayload(
  node: NodeRecord,
  event: string,
  previousState: string | null,
  previousTarget: string | null,
): ProvisionSetPayload {
  const { reservation: _r, reservation_purpose: _p, reserved_at: _a, driver_info: _d, ...rest } = node;
  const instanceInfo = maskSecrets(rest.instance_info);
  return {
    ...rest,
    instance_info: 'image_url' in instanceInfo ? { ...instanceInfo, image_url: '******' } : instanceInfo,
    driver_internal_info: maskSecrets(rest.driver_internal_info),
    event,
    previous_provision_state: previousState,
    previous_target_provision_state: previousTarget,
  };
}
