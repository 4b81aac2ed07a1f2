import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';

const WALL_FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/wall.js': { file: 'wall.js', type: 'text/javascript; charset=utf-8' },
  '/wall.css': { file: 'wall.css', type: 'text/css; charset=utf-8' },
} as const;

/**
 * The wall page: static files with no data in them (the data comes over /ws, with a token), read
 * once. Without a build the routes answer 503 saying how to build it.
 */
export function wallRoutes(dir: string): FastifyPluginAsync {
  return async (app) => {
    const files = new Map<string, { body: Buffer; type: string }>();
    for (const [route, f] of Object.entries(WALL_FILES)) {
      const file = path.resolve(dir, f.file);
      if (existsSync(file)) files.set(route, { body: readFileSync(file), type: f.type });
    }
    for (const route of Object.keys(WALL_FILES)) {
      app.get(route, async (_request, reply) => {
        const f = files.get(route);
        if (f === undefined)
          return reply.code(503).send({
            error: { code: 'wall_not_built', message: `no wall page in ${dir}: run npm run build:wall` },
          });
        return reply
          .type(f.type)
          .header('Cache-Control', 'no-cache')
          .header('X-Content-Type-Options', 'nosniff')
          .header(
            'Content-Security-Policy',
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'",
          )
          .send(f.body);
      });
    }
  };
}
