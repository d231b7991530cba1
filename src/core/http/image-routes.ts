import {createReadStream} from 'node:fs'
import type {Readable} from 'node:stream'
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import {errors} from '../errors.js'
import {validateImageName} from '../images/names.js'
import {SNIFF_BYTES} from '../images/sniff.js'
import type {OpenedImage} from '../store/store.js'
import type {Reply} from '../reply.js'
import {bearerToken} from './gallery-access.js'
import {allowed, type GalleryContext, peerOf, sendError, sendErrorBody} from './gallery-context.js'
import {
  type ByteRange,
  contentDisposition,
  etagOf,
  matchesNoneMatch,
  notModifiedSince,
  parseRange,
} from './http-headers.js'
import {exchangeUpload, exchangeWithoutData} from './http-exchange.js'
import {httpStatusOf} from './http-status.js'
import type {PageAsset} from './page-assets.js'
import {ByteSlice, sniffContentType} from './stream-slice.js'

type NameParams = {'*': string}

/** The URL's name (already percent-decoded by the router), as the request gave it. */
function nameOf(request: FastifyRequest): string {
  return (request.params as NameParams)['*']
}

/** A protocol reply as an HTTP answer: 200/201 with DETAILS and FILENAME, or the error's status with CODE and DETAILS. */
async function sendReply(reply: FastifyReply, answer: Reply, okStatus: number): Promise<FastifyReply> {
  const {message} = answer
  const details = typeof message.DETAILS === 'string' ? message.DETAILS : ''
  if (answer.status === 'ERROR') {
    const code = answer.code ?? 'E_INTERNAL'
    // A refused body may still be arriving: the connection closes after the answer rather than reading it.
    if (code === 'E_TOO_LARGE') void reply.header('Connection', 'close')
    return sendErrorBody(reply, httpStatusOf(code), {status: 'ERROR', code, details})
  }

  return reply.code(okStatus).header('Cache-Control', 'no-store').send({status: 'OK', name: message.FILENAME, details})
}

/**
 * `GET|HEAD /images/NAME` (the bytes, with validators, ranges and a safe Content-Disposition),
 * `PUT /images/NAME` and `DELETE /images/NAME` (through the protocol's handlers), and
 * `GET /thumbs/NAME` (the cached thumbnail, made on demand, or the placeholder).
 */
export function registerImageRoutes(app: FastifyInstance, context: GalleryContext, placeholder: PageAsset): void {
  // Uploads are streamed by the protocol path, never parsed or buffered by fastify.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => {
    done(null)
  })

  app.get('/images/*', async (request, reply) => {
    if (!(await allowed(context, request, reply, 'read'))) return reply
    let name: string
    try {
      name = validateImageName(nameOf(request))
    } catch (error) {
      return sendError(reply, error)
    }

    const image = await context.store.stat(name)
    if (image === null) return sendError(reply, errors.notFound(name))
    const etag = etagOf(image)
    const download = (request.query as {download?: string}).download !== undefined
    void reply
      .header('ETag', etag)
      .header('Last-Modified', new Date(image.modifiedMs).toUTCString())
      .header('Accept-Ranges', 'bytes')
      .header('Cache-Control', 'private, no-cache')
      .header('Content-Disposition', contentDisposition(download ? 'attachment' : 'inline', image.name))
    const noneMatch = request.headers['if-none-match']
    const modifiedSince = request.headers['if-modified-since']
    if (
      noneMatch === undefined
        ? modifiedSince !== undefined && notModifiedSince(modifiedSince, image.modifiedMs)
        : matchesNoneMatch(noneMatch, etag)
    ) {
      return reply.code(304).send()
    }

    const ifRange = request.headers['if-range']
    const range = ifRange === undefined || ifRange === etag ? parseRange(request.headers.range, image.size) : null
    if (range === 'unsatisfiable') {
      return reply
        .code(416)
        .header('Content-Range', `bytes */${image.size}`)
        .send({status: 'ERROR', code: 'E_RANGE', details: `The range is outside the image's ${image.size} bytes`})
    }

    if (range === null) {
      const {stream} = await context.store.openRead(image.name)
      void reply.header('Content-Type', await sniffContentType(stream, image.size))
      return reply.header('Content-Length', image.size).send(stream)
    }

    // The type is sniffed from the image's first bytes, whatever part of it is asked for.
    const first = await context.store.openRead(image.name, {offset: 0, length: SNIFF_BYTES})
    const type = await sniffContentType(first.stream, image.size)
    first.stream.destroy()
    const length = range.end - range.start + 1
    const opened = await context.store.openRead(image.name, {offset: range.start, length})
    return reply
      .code(206)
      .header('Content-Type', type)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${image.size}`)
      .header('Content-Length', length)
      .send(rangeStream(opened, range))
  })

  app.put('/images/*', async (request, reply) => {
    const length = request.headers['content-length']
    const declared = length === undefined ? null : Number(length)
    const answer = await exchangeUpload(
      context.door,
      {
        command: 'PUT',
        filename: nameOf(request),
        token: bearerToken(request.headers.authorization),
        peer: peerOf(request),
        signal: signalOf(request, reply),
      },
      request.raw,
      declared !== null && Number.isSafeInteger(declared) ? declared : null,
      context.maxSize,
    )
    return sendReply(reply, answer, 201)
  })

  app.delete('/images/*', async (request, reply) => {
    const answer = await exchangeWithoutData(context.door, {
      command: 'DELETE',
      filename: nameOf(request),
      token: bearerToken(request.headers.authorization),
      peer: peerOf(request),
      signal: signalOf(request, reply),
    })
    return sendReply(reply, answer, 200)
  })

  app.get('/thumbs/*', async (request, reply) => {
    if (!(await allowed(context, request, reply, 'read'))) return reply
    let name: string
    try {
      name = validateImageName(nameOf(request))
    } catch (error) {
      return sendError(reply, error)
    }

    const image = await context.store.stat(name)
    if (image === null) return sendError(reply, errors.notFound(name))
    const facts = await context.thumbnails.ensure(image)
    void reply.header('Cache-Control', 'private, max-age=3600').header('ETag', etagOf(image))
    if (facts.placeholder) {
      return reply.header('Content-Type', placeholder.type).header('X-Thumbnail', 'placeholder').send(placeholder.body)
    }

    const noneMatch = request.headers['if-none-match']
    if (noneMatch !== undefined && matchesNoneMatch(noneMatch, etagOf(image))) return reply.code(304).send()
    const file = createReadStream(context.thumbnails.cache.thumbnailPath(image))
    return reply.header('Content-Type', 'image/webp').send(file)
  })
}

/** The range's bytes: the stream as the backend gives it, or cut from the whole image by a backend that ignores ranges. */
function rangeStream(opened: OpenedImage, range: ByteRange): Readable {
  const {stream} = opened
  if ((opened.offset ?? 0) === range.start) return stream
  const slice = new ByteSlice(range.start, range.end)
  slice.once('end', () => stream.destroy())
  stream.on('error', (error) => slice.destroy(error))
  return stream.pipe(slice)
}

/** Aborted when the HTTP peer goes away, as the TCP side's signal is when its socket closes. */
function signalOf(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  request.raw.once('close', () => {
    if (!request.raw.complete) controller.abort()
  })
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort()
  })
  return controller.signal
}
