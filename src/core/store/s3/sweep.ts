import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3'

import type {Claim, KeyLayout} from './layout.js'

export interface SweepContext {
  readonly client: S3Client
  readonly bucket: string
  readonly layout: KeyLayout
  readonly graceMs: number
  /** Every claim in the bucket, read after the sweep starts. */
  readonly claims: () => AsyncIterable<Claim>
}

export interface SweepResult {
  readonly blobsDeleted: number
  readonly uploadsAborted: number
  readonly pinsDeleted: number
}

/** Deletes at once per sweep (each a DeleteObject: DeleteObjects needs Content-MD5, which the client does not send). */
const DELETES_IN_FLIGHT = 8

/**
 * Every object under `prefix`, page by page.
 * @yields {{key: string, lastModified: number}} each object's key and its last-modified time (ms since the epoch)
 */
export async function* listObjects(
  client: S3Client,
  bucket: string,
  prefix: string,
): AsyncGenerator<{key: string; lastModified: number}> {
  let token: string | undefined
  do {
    // Sequential on purpose: each page's token comes from the one before.

    const page = await client.send(
      new ListObjectsV2Command({Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000}),
    )
    for (const item of page.Contents ?? []) {
      if (item.Key !== undefined) yield {key: item.Key, lastModified: item.LastModified?.getTime() ?? 0}
    }

    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token !== undefined)
}

async function deleteAll(client: S3Client, bucket: string, keys: readonly string[]): Promise<number> {
  let next = 0
  let deleted = 0
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]

      await client.send(new DeleteObjectCommand({Bucket: bucket, Key: key}))
      deleted++
    }
  }

  await Promise.all(Array.from({length: DELETES_IN_FLIGHT}, worker))
  return deleted
}

/**
 * Removes what no claim needs, older than the grace period: blobs no claim points at (a server
 * killed between upload and claim, a lost race, a deleted name), multipart uploads never completed
 * (ListObjectsV2 does not show them), and pins of finished renames.
 *
 * Why it is safe with any number of servers and uploads running: the cut-off is taken before the
 * claims are listed, and an upload claims its name within half the grace period of starting its
 * blob (S3 dates a multipart object by its initiation), so every blob older than the cut-off that
 * will ever be claimed is claimed before the listing starts, and listing is strongly consistent. A
 * rename writes its pin before its new claim and removes the old claim last, so a listing that
 * misses both claims sees the pin. Two servers sweeping at once delete the same keys; deleting a
 * missing key succeeds.
 */
export async function sweepOrphans(context: SweepContext): Promise<SweepResult> {
  const {client, bucket, layout, graceMs} = context
  const cutoff = Date.now() - graceMs
  const claimed = new Set<string>()
  for await (const claim of context.claims()) claimed.add(claim.blob)

  const pinned = new Set<string>()
  const stalePins: string[] = []
  for await (const pin of listObjects(client, bucket, layout.pins)) {
    pinned.add(layout.blobs + pin.key.slice(layout.pins.length))
    if (pin.lastModified < cutoff) stalePins.push(pin.key)
  }

  const orphans: string[] = []
  for await (const blob of listObjects(client, bucket, layout.blobs)) {
    if (blob.lastModified < cutoff && !claimed.has(blob.key) && !pinned.has(blob.key)) orphans.push(blob.key)
  }

  const blobsDeleted = await deleteAll(client, bucket, orphans)
  const pinsDeleted = await deleteAll(client, bucket, stalePins)
  const uploadsAborted = await abortStaleUploads(context, cutoff)
  return {blobsDeleted, uploadsAborted, pinsDeleted}
}

async function abortStaleUploads(context: SweepContext, cutoff: number): Promise<number> {
  const {client, bucket, layout} = context
  let aborted = 0
  let keyMarker: string | undefined
  let uploadIdMarker: string | undefined
  do {
    const page = await client.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        Prefix: layout.blobs,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    )
    for (const upload of page.Uploads ?? []) {
      if (upload.Key === undefined || upload.UploadId === undefined) continue
      if ((upload.Initiated?.getTime() ?? 0) >= cutoff) continue

      await client.send(new AbortMultipartUploadCommand({Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId}))
      aborted++
    }

    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined
  } while (keyMarker !== undefined)
  return aborted
}
