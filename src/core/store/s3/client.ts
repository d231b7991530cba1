import {S3Client} from '@aws-sdk/client-s3'

/** Where the bucket is and how to reach it; credentials come from the standard AWS chain. */
export interface S3Endpoint {
  /** A custom endpoint (Ceph RGW, MinIO, Garage), or undefined for AWS itself. */
  readonly endpoint?: string
  readonly region: string
}

/**
 * Parallel requests per server to the object store. Each upload has at most 2 parts in flight, and
 * GETs stream, so this bounds sockets, not memory.
 */
const MAX_SOCKETS = 64

/**
 * An S3 client for one endpoint: path-style addressing for a custom endpoint (bucket names need no
 * DNS there), and checksums only where an operation requires them: the newer SDK defaults send
 * CRC32 trailers (aws-chunked bodies) that Ceph 16 does not understand.
 */
export function createS3Client(where: S3Endpoint): S3Client {
  return new S3Client({
    region: where.region,
    ...(where.endpoint !== undefined && {endpoint: where.endpoint, forcePathStyle: true}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: {
      requestTimeout: 120_000,
      connectionTimeout: 10_000,
      httpAgent: {keepAlive: true, maxSockets: MAX_SOCKETS},
      httpsAgent: {keepAlive: true, maxSockets: MAX_SOCKETS},
    },
  })
}

/** HTTP status of a failed S3 call, if it got an answer. */
export function statusOf(error: unknown): number | undefined {
  return (error as {$metadata?: {httpStatusCode?: number}} | null)?.$metadata?.httpStatusCode
}

/** A missing key or bucket (404, whatever the error's name on this server). */
export function isNotFound(error: unknown): boolean {
  const name = (error as {name?: string} | null)?.name
  return statusOf(error) === 404 || name === 'NoSuchKey' || name === 'NotFound'
}

/**
 * A conditional write that lost: 412 Precondition Failed, or 409 ConditionalRequestConflict (AWS
 * answers that to a write racing another on the same key).
 */
export function isConditionFailed(error: unknown): boolean {
  const status = statusOf(error)
  return status === 412 || status === 409
}

/** The error's message with its S3 code, for logs and refusals (never holds a credential). */
export function describeS3Error(error: unknown): string {
  const {name, message} = (error as {name?: string; message?: string} | null) ?? {}
  const status = statusOf(error)
  const parts = [name, status === undefined ? undefined : `HTTP ${status}`].filter(Boolean).join(', ')
  return parts === '' ? String(message) : `${message ?? name} (${parts})`
}
