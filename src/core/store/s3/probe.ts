import {DeleteObjectCommand, PutObjectCommand, type S3Client} from '@aws-sdk/client-s3'
import {randomUUID} from 'node:crypto'

import {describeS3Error, isConditionFailed} from './client.js'

/** Conditional writes of one new key sent at once by the probe. */
export const PROBE_WRITES = 8

/**
 * Checks that the object store honours `If-None-Match: *` atomically, which the one-winner-per-name
 * rule rests on: {@link PROBE_WRITES} conditional PutObjects of one key unique to this start race,
 * and exactly one may succeed. Returns null when it holds, else why not (one line).
 */
export async function probeConditionalWrites(client: S3Client, bucket: string, prefix: string): Promise<string | null> {
  const key = `${prefix}${randomUUID()}`
  const outcomes = await Promise.allSettled(
    Array.from({length: PROBE_WRITES}, async (_, index) =>
      client.send(new PutObjectCommand({Bucket: bucket, Key: key, Body: String(index), IfNoneMatch: '*'})),
    ),
  )
  await client.send(new DeleteObjectCommand({Bucket: bucket, Key: key})).catch(() => undefined)
  const won = outcomes.filter((outcome) => outcome.status === 'fulfilled').length
  const other = outcomes.find(
    (outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected' && !isConditionFailed(outcome.reason),
  )
  if (other !== undefined) return `a conditional PutObject failed: ${describeS3Error(other.reason)}`
  if (won === 1) return null
  if (won === 0) return `none of ${PROBE_WRITES} conditional writes of a new key succeeded`
  return (
    `it ignores If-None-Match: * (or checks it non-atomically): ${won} of ${PROBE_WRITES} conditional writes ` +
    'of one new key succeeded, so two servers could both store the same name'
  )
}
