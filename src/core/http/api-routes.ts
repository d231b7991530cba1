import type {FastifyInstance} from 'fastify'

import {bearerToken, covers, grantOf, type Scope} from './gallery-access.js'
import {allowed, entryOf, type GalleryContext, peerOf, sendErrorBody} from './gallery-context.js'
import type {ImageOrder} from './image-listing.js'

/** Images per page of `GET /api/images`, by default and at most. */
export const DEFAULT_PAGE_SIZE = 100
export const MAX_PAGE_SIZE = 500

interface ListQuery {
  sort?: string
  after?: string
  limit?: string
  q?: string
}

/**
 * `GET /api/session` (what the caller's token allows, and the server's limits, for the page),
 * `GET /api/images` (a page of images as JSON) and `GET /api/events` (server-sent events).
 */
export function registerApiRoutes(app: FastifyInstance, context: GalleryContext): void {
  app.get('/api/session', async (request, reply) => {
    const grant = await grantOf(context.access, bearerToken(request.headers.authorization), peerOf(request))
    // Each COMMAND needs the scope its handler declares (DELETE: delete, unless a plugin says otherwise).
    const may = (command: string, fallback: Scope) =>
      grant !== null && covers(grant, context.scopeOf(command) ?? fallback) && context.commands().includes(command)
    return reply.header('Cache-Control', 'no-store').send({
      tokenAccepted: grant !== null,
      read: grant !== null && covers(grant, 'read'),
      write: may('PUT', 'write'),
      delete: may('DELETE', 'delete'),
      commands: context.commands(),
      maxSize: context.maxSize,
    })
  })

  app.get('/api/images', async (request, reply) => {
    if (!(await allowed(context, request, reply, 'read'))) return reply
    const query = request.query as ListQuery
    const order: ImageOrder = query.sort === 'name' ? 'name' : 'newest'
    const limit = Math.min(
      Math.max(Math.trunc(Number(query.limit ?? DEFAULT_PAGE_SIZE)) || DEFAULT_PAGE_SIZE, 1),
      MAX_PAGE_SIZE,
    )
    if ((query.q?.length ?? 0) > 255 || (query.after?.length ?? 0) > 4096) {
      return sendErrorBody(reply, 400, {
        status: 'ERROR',
        code: 'E_BAD_QUERY',
        details: 'The filter or cursor is too long',
      })
    }

    const page = await context.listing.page({
      order,
      limit,
      after: query.after === '' ? undefined : query.after,
      filter: query.q === '' ? undefined : query.q,
    })
    const images = await Promise.all(
      page.images.map(async (image) => entryOf(image, await context.thumbnails.cache.facts(image))),
    )
    return reply.header('Cache-Control', 'no-store').send({images, next: page.next})
  })

  app.get('/api/events', async (request, reply) => {
    if (!(await allowed(context, request, reply, 'read'))) return reply
    if (!context.live.hasRoom) {
      return sendErrorBody(reply, 503, {status: 'ERROR', code: 'E_BUSY', details: 'Too many open gallery pages'})
    }

    void reply.hijack()
    // Hijacked responses skip fastify's hooks: the security headers are given here.
    context.live.add(reply.raw, reply.getHeaders() as Record<string, string>)
    return reply
  })
}
