import type {IncomingMessage} from 'node:http'
import type {Writable} from 'node:stream'

import {errors} from '../errors.js'
import {PROTOCOL_VERSION, toMessage} from '../protocol/message.js'
import {type PickleDict, type PickleValue, StreamedBytes} from '../protocol/values.js'
import type {FailedRequest, Reply} from '../reply.js'
import type {RequestExchange} from '../transport/exchange.js'
import {SinkFeeder} from '../transport/sink-feeder.js'

/** How an HTTP request reaches the protocol's request path: the server's own exchange factory and error mapping. */
export interface ExchangeDoor {
  openExchange(peer: string, signal: AbortSignal): RequestExchange
  errorReply(error: unknown, request: FailedRequest): Reply
}

/** One protocol request made from an HTTP request: COMMAND, FILENAME and the bearer token as TOKEN. */
export interface DoorRequest {
  readonly command: string
  readonly filename: string
  readonly token: string | null
  readonly peer: string
  readonly signal: AbortSignal
}

/** The request head as an iss client would send it (VERSION, so that answers carry CODE). */
function headOf(request: DoorRequest): PickleDict {
  const head: PickleDict = new Map<string, PickleValue>([
    ['COMMAND', request.command],
    ['STATUS', 'REQUEST'],
    ['DETAILS', null],
    ['FILENAME', request.filename],
    ['VERSION', BigInt(PROTOCOL_VERSION)],
  ])
  if (request.token !== null) head.set('TOKEN', request.token)
  return head
}

function failed(request: DoorRequest): FailedRequest {
  return {command: request.command, filename: request.filename, versioned: true}
}

/**
 * Runs a request without data (DELETE, or any other COMMAND) through the same exchange as a
 * protocol request, so that the same registry, access check and handler answer it.
 */
export async function exchangeWithoutData(door: ExchangeDoor, request: DoorRequest): Promise<Reply> {
  const exchange = door.openExchange(request.peer, request.signal)
  try {
    return await exchange.complete(toMessage(headOf(request)))
  } catch (error) {
    return door.errorReply(error, failed(request))
  } finally {
    await exchange.dispose()
  }
}

/**
 * Runs an upload (PUT) through the protocol's request path: the head is decided on before a byte is
 * stored (name, duplicates, size, access), the body then streams into the upload the handler named,
 * and the handler publishes it. `declaredLength` is the Content-Length (null when chunked; the body is
 * then bounded by `maxSize` as it arrives). Nothing is stored when the answer is an ERROR.
 */
export async function exchangeUpload(
  door: ExchangeDoor,
  request: DoorRequest,
  body: IncomingMessage,
  declaredLength: number | null,
  maxSize: number,
): Promise<Reply> {
  if (declaredLength !== null && declaredLength > maxSize) {
    return door.errorReply(errors.tooLarge('FILE_DATA', declaredLength, maxSize), failed(request))
  }

  const head = headOf(request)
  const exchange = door.openExchange(request.peer, request.signal)
  try {
    const decision = await exchange.head(head, declaredLength ?? maxSize)
    if ('refusal' in decision) return door.errorReply(decision.refusal, failed(request))
    const received = await receive(body, decision.sink, maxSize)
    if (received > maxSize) return door.errorReply(errors.tooLarge('FILE_DATA', received, maxSize), failed(request))
    const message = toMessage(head)
    message.FILE_DATA = new StreamedBytes('FILE_DATA', received)
    return await exchange.complete(message)
  } catch (error) {
    return door.errorReply(error, failed(request))
  } finally {
    // Whatever the handler did not publish (a refusal, a cut-off body) is thrown away here.
    await exchange.dispose()
  }
}

/**
 * Feeds the body into `sink` (or discards it when the handler takes no data) with bounded buffering:
 * the body is paused while the sink is full. Stops reading once past `maxSize` and returns the count
 * so far (the caller answers 413 and closes the connection). Rejects when the peer goes away.
 */
async function receive(body: IncomingMessage, sink: Writable | null, maxSize: number): Promise<number> {
  const feeder = sink === null ? null : new SinkFeeder(sink)
  let received = 0
  await new Promise<void>((resolve, reject) => {
    const finish = (error?: Error) => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', finish)
      body.off('close', onClose)
      if (error) reject(error)
      else resolve()
    }

    const onData = (chunk: Buffer) => {
      received += chunk.length
      if (received > maxSize) {
        body.pause()
        finish()
        return
      }

      const wait = feeder?.write(chunk)
      if (wait) {
        body.pause()
        void wait.then(() => body.resume())
      }
    }

    const onEnd = () => finish()
    const onClose = () => {
      if (!body.complete) finish(errors.malformed('the request body ended early', {fatal: false}))
    }

    body.on('data', onData)
    body.on('end', onEnd)
    body.on('error', finish)
    body.on('close', onClose)
    body.resume()
  })
  if (received <= maxSize && feeder !== null) await feeder.flushed()
  return received
}
