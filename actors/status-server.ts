/**
 * The live status endpoint of a conductor (`Conductor.open({ statusServer })`): a read-only HTTP
 * server on Node's `http`, loopback by default, without authentication. Routes (GET only; any
 * other method is 405, any other path 404; error bodies are JSON with an `error` field):
 *
 * - `GET /status`: the `status()` report as JSON;
 * - `GET /metrics`: the Prometheus text exposition of the conductor's registry;
 * - `GET /nodes[?state=X&state=Y]`: the nodes' identity, provision and lock columns (never
 *   driver_info, instance_info or any other field that may hold secrets); 400 for an unknown
 *   state, 503 when the store cannot answer.
 *
 * A request can never throw out of the server nor change the conductor: every handler answers,
 * a failure inside one is a 500.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { err, ok, type Result } from 'neverthrow';
import { describe, InvalidParameterValue } from '../src/errors.js';
import type { Logger } from '../src/logging.js';
import type { NodeRecord } from '../src/node.js';

/** Where the status server listens (`Conductor.open({ statusServer })`). */
export interface StatusServerOptions {
  /** Interface to listen on. Default `'127.0.0.1'` (loopback: the endpoint has no authentication). */
  host?: string;
  /** TCP port. Default 0: an ephemeral port (read it from `conductor.statusServerUrl`). */
  port?: number;
}

/** What the server reads from its conductor. */
export interface StatusSource {
  status(): unknown;
  /** The Prometheus text exposition and its content type. */
  metrics(): Promise<{ readonly contentType: string; readonly text: string }>;
  /** The nodes, of these provision states if given; an Err names a bad state (`400`) or a store failure (`503`). */
  listNodes(states: readonly string[] | null): Promise<Result<readonly NodeRecord[], { readonly name: string; readonly message: string }>>;
}

/** The columns of a node that `/nodes` shows. */
const NODE_COLUMNS = [
  'id',
  'uuid',
  'name',
  'provision_state',
  'target_provision_state',
  'reservation',
  'reservation_purpose',
  'reserved_at',
  'last_error',
] as const;

/** Check `statusServer`'s shape and values (host a non-empty string, port an integer 0–65535). */
export function checkStatusServerOptions(value: unknown): Result<Required<StatusServerOptions>, InvalidParameterValue> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return err(new InvalidParameterValue('statusServer must be an options object', { option: 'statusServer' }));
  }
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => key !== 'host' && key !== 'port');
  if (unknown.length > 0) {
    const names = unknown.map((key) => `statusServer.${key}`);
    return err(new InvalidParameterValue(`unknown option${names.length > 1 ? 's' : ''}: ${names.join(', ')}`, { options: names }));
  }
  const { host = '127.0.0.1', port = 0 } = fields;
  if (typeof host !== 'string' || host.trim() === '') {
    return err(new InvalidParameterValue('statusServer.host must be a non-empty string', { option: 'statusServer.host', value: host }));
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    return err(
      new InvalidParameterValue('statusServer.port must be an integer from 0 to 65535', { option: 'statusServer.port', value: port }),
    );
  }
  return ok({ host, port });
}

/** A listening status server. */
export class StatusServer {
  /** e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly #server: Server;
  #closing: Promise<void> | null = null;

  private constructor(server: Server, url: string) {
    this.#server = server;
    this.url = url;
  }

  /**
   * Listen on `options`; Err(InvalidParameterValue) naming host:port and the errno when it cannot.
   * Until `serveFrom` names its source, every route answers 503 (the conductor is still opening):
   * listening comes first so that a busy port fails the open before the store is touched.
   */
  static async listen(options: Required<StatusServerOptions>, logger: Logger): Promise<Result<StatusServer, InvalidParameterValue>> {
    let instance: StatusServer | null = null;
    const server = createServer((request, response) => {
      serve(instance === null ? null : instance.#source, request, response, logger).catch((error: unknown) => {
        logger.error({ err: error }, 'status server: answering a request failed');
        answerError(response, 500, 'internal error');
      });
    });
    // A socket's error (a client reset) is the client's business, never the conductor's.
    server.on('clientError', (_error, socket) => socket.destroy());
    const listening = await new Promise<Error | null>((resolve) => {
      server.once('error', resolve);
      server.listen({ host: options.host, port: options.port }, () => {
        server.off('error', resolve);
        resolve(null);
      });
    });
    if (listening !== null) {
      server.close();
      const code = (listening as NodeJS.ErrnoException).code ?? listening.message;
      return err(
        new InvalidParameterValue(`the status server cannot listen on ${options.host}:${options.port}: ${code}`, {
          option: 'statusServer',
          host: options.host,
          port: options.port,
          code,
        }),
      );
    }
    server.on('error', (error) => logger.error({ err: error }, 'status server error'));
    const port = (server.address() as AddressInfo).port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    instance = new StatusServer(server, `http://${host}:${port}`);
    return ok(instance);
  }

  #source: StatusSource | null = null;

  /** Answer from `source` from now on. */
  serveFrom(source: StatusSource): void {
    this.#source = source;
  }

  /** Stop listening and close every connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }
}

async function serve(source: StatusSource | null, request: IncomingMessage, response: ServerResponse, logger: Logger): Promise<void> {
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://status.invalid');
  } catch {
    // A malformed request target (`//[`): the client's mistake, not worth a log line.
    answerError(response, 400, 'malformed request target');
    return;
  }
  const route = url.pathname;
  if (route !== '/status' && route !== '/metrics' && route !== '/nodes') {
    answerError(response, 404, `no route ${route}: GET /status, /metrics or /nodes`);
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    answerError(response, 405, `method ${request.method ?? ''} not allowed: GET only`);
    return;
  }
  if (source === null) {
    answerError(response, 503, 'the conductor is starting');
    return;
  }
  if (route === '/status') {
    answerJson(response, 200, source.status());
    return;
  }
  if (route === '/metrics') {
    const { contentType, text } = await source.metrics();
    answer(response, 200, contentType, text);
    return;
  }
  const states = url.searchParams.getAll('state');
  const listed = await source.listNodes(states.length === 0 ? null : states);
  if (listed.isErr()) {
    const invalid = listed.error.name === 'InvalidParameterValue';
    if (!invalid) logger.warn({ err: listed.error }, 'status server: listing the nodes failed');
    answerError(response, invalid ? 400 : 503, listed.error.message);
    return;
  }
  answerJson(response, 200, { nodes: listed.value.map(project) });
}

/** The columns `/nodes` shows of a node: identity, provision state, lock; nothing that may hold secrets. */
function project(node: NodeRecord): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const column of NODE_COLUMNS) row[column] = node[column] ?? null;
  return row;
}

function answerJson(response: ServerResponse, status: number, body: unknown): void {
  answer(response, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`);
}

function answerError(response: ServerResponse, status: number, message: string): void {
  answerJson(response, status, { error: message });
}

function answer(response: ServerResponse, status: number, contentType: string, body: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  try {
    response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
    response.end(body);
  } catch (error) {
    response.destroy(error instanceof Error ? error : new Error(describe(error)));
  }
}
