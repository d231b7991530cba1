import type {StoreBackend, StoreBackendContext} from '../backend.js'
import {createS3Client} from './client.js'
import {parseDuration} from './duration.js'
import {S3Store} from './s3-store.js'

/** Default grace period of the orphan sweep: an upload may take half of it. */
export const DEFAULT_GRACE_MS = 60 * 60 * 1000
const DEFAULT_REGION = 'us-east-1'

/** S3's bucket naming rules (lower case, digits, dots and hyphens; 3 to 63 characters). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/u

/** An empty value (`endpoint=`) counts as not given. */
function emptyAsUndefined(text: string | undefined): string | undefined {
  return text === '' ? undefined : text
}

function option(context: StoreBackendContext, name: string): string | undefined {
  const {env} = s3Backend.options[name]
  return context.options[name] ?? (env === undefined ? undefined : context.env[env]) ?? undefined
}

/** The bucket, the prefix and the client settings from `s3://BUCKET[/PREFIX]?endpoint=...&region=...&grace=...`. */
export function parseS3Location(context: StoreBackendContext): {
  bucket: string
  prefix: string
  endpoint?: string
  region: string
  graceMs: number
} {
  const {url} = context
  const bucket = decodeURIComponent(url.host)
  if (!BUCKET.test(bucket)) {
    throw new RangeError(`'${bucket}' is not a bucket name (3 to 63 of a-z, 0-9, '.', '-'): s3://BUCKET/PREFIX`)
  }

  const prefix = decodeURIComponent(url.pathname).replaceAll(/^\/+|\/+$/gu, '')
  if (Buffer.byteLength(prefix) > 256) throw new RangeError('the prefix is longer than 256 bytes')
  const endpoint = emptyAsUndefined(option(context, 'endpoint'))
  if (endpoint !== undefined) {
    let parsed: URL
    try {
      parsed = new URL(endpoint)
    } catch {
      throw new RangeError(`endpoint=${endpoint} is not a URL (e.g. http://127.0.0.1:7480)`)
    }

    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new RangeError(`endpoint=${endpoint} must be an http: or https: URL`)
    }

    if (parsed.username !== '' || parsed.password !== '') {
      throw new RangeError('the endpoint must not hold credentials: use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY')
    }
  }

  const region =
    emptyAsUndefined(option(context, 'region')) ?? emptyAsUndefined(context.env.AWS_REGION) ?? DEFAULT_REGION
  const graceText = option(context, 'grace')
  const graceMs = graceText === undefined ? DEFAULT_GRACE_MS : parseDuration('grace', graceText)
  return {bucket, prefix, endpoint, region, graceMs}
}

/**
 * The S3-compatible store: `s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:7480&region=us-east-1&grace=1h`.
 * Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles,
 * instance roles). The AWS SDK loads only when this backend is chosen.
 */
const s3Backend: StoreBackend = {
  description:
    'images in an S3-compatible bucket shared by several servers: s3://BUCKET/PREFIX?endpoint=URL&region=R&grace=1h ' +
    '(credentials from the AWS chain)',
  options: {
    endpoint: {
      description: 'the object store URL (Ceph RGW, MinIO, ...); none means AWS S3',
      env: 'ISS_S3_ENDPOINT',
    },
    region: {description: 'the bucket region (default AWS_REGION, else us-east-1)', env: 'ISS_S3_REGION'},
    grace: {
      description: 'age after which unclaimed blobs and unfinished multipart uploads are swept (default 1h)',
      env: 'ISS_S3_GRACE',
    },
  },
  create(context) {
    const {bucket, prefix, endpoint, region, graceMs} = parseS3Location(context)
    return new S3Store({
      client: createS3Client({endpoint, region}),
      bucket,
      prefix,
      where: endpoint ?? `AWS S3 (${region})`,
      graceMs,
      maxSize: context.maxSize,
      logger: context.logger,
    })
  },
}

export default s3Backend
