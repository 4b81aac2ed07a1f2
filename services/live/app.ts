import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController } from 'fastify';
import { WebSocketServer } from 'ws';
import { probes } from '../shared/http/probes.ts';
import type { Logger } from '../shared/logger.ts';
import { gauge, type Registry } from '../shared/metrics.ts';
import type { LiveConfig } from './config.ts';
import type { FeedHandlers } from './feed.ts';
import { FleetKpiTracker } from './fleet-kpis.ts';
import { FleetState } from './fleet-state.ts';
import { LiveHub } from './hub.ts';
import { CLOSE } from './protocol.ts';
import { wallRoutes } from './wall-routes.ts';

export interface LiveAppDeps {
  logger: Logger;
  metrics: Registry;
  /** Names this instance's sequence numbers (a restart or another instance has another). */
  epoch: string;
  /** Whether the fleet was rebuilt from the terminal-status topic (serving before would lie). */
  rebuilt: () => boolean;
}

/** The parts of LiveConfig the app uses. */
export type LiveAppConfig = Pick<
  LiveConfig,
  | 'tokens'
  | 'allowedOrigins'
  | 'maxConnectionsPerToken'
  | 'maxSubscriptions'
  | 'maxSubscriptionsPerToken'
  | 'maxMessageBytes'
  | 'coalesceMs'
  | 'maxBufferedBytes'
  | 'slowCloseMs'
  | 'authTimeoutMs'
  | 'pingMs'
  | 'history'
  | 'wallDir'
>;

/**
 * The live service without listening: the fleet state, the hub, probes and `/metrics`, and the
 * WebSocket endpoint `/ws`. `handlers` take the records the Kafka feed reads (main.ts wires it).
 */
export function buildLiveApp(deps: LiveAppDeps, config: LiveAppConfig) {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  const fleet = new FleetState(deps.epoch, config.history);
  const kpis = new FleetKpiTracker();
  const hub = new LiveHub(
    fleet,
    {
      tokens: config.tokens,
      authTimeoutMs: config.authTimeoutMs,
      maxConnectionsPerToken: config.maxConnectionsPerToken,
      maxSubscriptionsPerConnection: config.maxSubscriptions,
      maxSubscriptionsPerToken: config.maxSubscriptionsPerToken,
      coalesceMs: config.coalesceMs,
      maxBufferedBytes: config.maxBufferedBytes,
      slowCloseMs: config.slowCloseMs,
      summaryMs: 1_000,
      pingMs: config.pingMs,
      recentAlerts: 50,
    },
    deps.logger,
  );
  hub.useKpis(
    () => kpis.current(),
    () => kpis.series(),
  );
  const connections = gauge(deps.metrics, 'pospulse_live_connections', 'Open WebSocket connections.', []);
  const terminals = gauge(deps.metrics, 'pospulse_live_terminals', 'Terminals in the fleet state.', []);
  void app.register(
    probes({
      metrics: deps.metrics,
      ready: async () => ({ ready: deps.rebuilt(), checks: { fleet_rebuilt: deps.rebuilt() } }),
      tokens: config.tokens,
      realm: 'pospulse-live',
    }),
  );
  void app.register(wallRoutes(config.wallDir));
  app.addHook('onRequest', async () => {
    connections.set({}, hub.connectionCount);
    terminals.set({}, fleet.size);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes });
  wss.on('connection', (ws) => hub.attach(ws));
  const allowed = new Set(config.allowedOrigins);

  /** Takes an HTTP upgrade: `/ws` only, from an allowed origin, once the fleet is rebuilt. */
  function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (!deps.rebuilt()) {
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    const origin = request.headers.origin;
    const own = `http://${request.headers.host ?? ''}`;
    wss.handleUpgrade(request, socket, head, (ws) => {
      // A browser page of a foreign origin gets a close code it can show, rather than a bare
      // failed handshake; it is closed before it may authenticate.
      if (origin !== undefined && origin !== own && !allowed.has(origin)) {
        ws.close(CLOSE.FORBIDDEN_ORIGIN, 'origin not allowed');
        return;
      }
      wss.emit('connection', ws, request);
    });
  }

  app.addHook('onReady', async () => {
    app.server.on('upgrade', upgrade);
    hub.start();
  });
  app.addHook('preClose', async () => {
    hub.closeAll();
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  /** What the feed calls with each record read. */
  const handlers: FeedHandlers = {
    status: (status) => {
      const delta = fleet.apply(status);
      if (delta !== null) hub.onDelta(delta);
    },
    kpi: (update, source) => {
      if (source !== null) kpis.apply(update, source);
    },
    alert: (alert) => hub.onAlert(alert),
    kpiUpdate: (update) => hub.onKpiUpdate(update),
    wantsKpiLevel: (level) => hub.wantsKpiLevel(level),
  };
  return { app, fleet, hub, kpis, handlers };
}
