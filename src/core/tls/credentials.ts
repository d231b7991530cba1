import {watch, type FSWatcher} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {basename, dirname} from 'node:path'
import type {SecureContextOptions} from 'node:tls'

import {fingerprintOfPem} from './fingerprint.js'

/** Where a server's certificate comes from: PEM files, re-read when they change. */
export interface CertificateFiles {
  /** The certificate, optionally followed by its chain, PEM. */
  readonly certFile: string
  /** Its private key, PEM (unencrypted). */
  readonly keyFile: string
}

/** What one reload did: the new fingerprint, or why the files were not taken (the old pair stays). */
export type ReloadOutcome =
  | {readonly ok: true; readonly fingerprint: string; readonly changed: boolean}
  | {readonly ok: false; readonly error: Error}

/** Waits for the writes of a replacement to settle (cert and key are two files, often written one after the other). */
const SETTLE_MS = 150

/**
 * The server's certificate and key, as `tls.SecureContextOptions`, kept current: {@link watch} re-reads
 * both files when either changes (or is replaced by a rename) and on {@link reload} (SIGHUP), and tells
 * every subscriber. A pair that does not load (a key that does not match, a file half-written) is refused
 * and the previous pair stays in use, so a reload never takes TLS down. Front doors (TCP, HTTPS) subscribe
 * and call their server's `setSecureContext`: open connections keep the certificate they started with.
 */
export class TlsCredentials {
  private options: SecureContextOptions
  private currentFingerprint: string
  private readonly listeners = new Set<(options: SecureContextOptions) => void>()
  private readonly watchers: FSWatcher[] = []
  private settleTimer: NodeJS.Timeout | undefined
  private reloading: Promise<ReloadOutcome> | null = null

  private constructor(
    readonly files: CertificateFiles,
    pem: {cert: string; key: string},
    private readonly validate: (options: SecureContextOptions) => void,
  ) {
    this.options = {cert: pem.cert, key: pem.key}
    this.currentFingerprint = fingerprintOfPem(pem.cert)
  }

  /**
   * Reads and checks the pair. `validate` throws for a pair TLS cannot use (tls.createSecureContext does).
   * Throws an Error naming the file that cannot be read or used.
   */
  static async load(
    files: CertificateFiles,
    validate: (options: SecureContextOptions) => void,
  ): Promise<TlsCredentials> {
    const pem = await readPair(files)
    validateOrExplain(validate, pem, files)
    return new TlsCredentials(files, pem, validate)
  }

  /** The secure context options in force: `cert` and `key` as PEM strings. */
  current(): SecureContextOptions {
    return this.options
  }

  /** SHA-256 fingerprint of the certificate in force (colon-separated upper-case hex). */
  get fingerprint(): string {
    return this.currentFingerprint
  }

  /** Calls `listener` with the new options after each successful reload; returns the unsubscribe function. */
  onReload(listener: (options: SecureContextOptions) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Re-reads both files now. On success every subscriber gets the new options (a subscriber that throws
   * makes the outcome a failure, after the others ran); on failure nothing changes.
   */
  async reload(): Promise<ReloadOutcome> {
    // One reload at a time; a change during it is read by the next.
    while (this.reloading !== null) await this.reloading
    this.reloading = this.readAndApply()
    try {
      return await this.reloading
    } finally {
      this.reloading = null
    }
  }

  /**
   * Watches the folders of both files (a file replaced by rename is a new inode: watching the file itself
   * would miss it) and reloads shortly after a change to either. `report` hears every outcome.
   */
  watch(report: (outcome: ReloadOutcome) => void): void {
    const names = new Map<string, Set<string>>()
    for (const file of [this.files.certFile, this.files.keyFile]) {
      const set = names.get(dirname(file)) ?? new Set<string>()
      set.add(basename(file))
      names.set(dirname(file), set)
    }
    for (const [dir, wanted] of names) {
      // A callback watcher: it closes synchronously with the server.
      // eslint-disable-next-line n/prefer-promises/fs
      const watcher = watch(dir, {persistent: false}, (_event, name) => {
        if (name !== null && !wanted.has(name)) return
        clearTimeout(this.settleTimer)
        this.settleTimer = setTimeout(() => {
          void this.reload().then(report)
        }, SETTLE_MS)
      })
      watcher.on('error', () => {
        watcher.close()
      })
      this.watchers.push(watcher)
    }
  }

  /** Stops watching. */
  close(): void {
    clearTimeout(this.settleTimer)
    for (const watcher of this.watchers.splice(0)) watcher.close()
    this.listeners.clear()
  }

  private async readAndApply(): Promise<ReloadOutcome> {
    try {
      const pem = await readPair(this.files)
      if (pem.cert === this.options.cert && pem.key === this.options.key) {
        return {ok: true, fingerprint: this.currentFingerprint, changed: false}
      }
      validateOrExplain(this.validate, pem, this.files)
      const fingerprint = fingerprintOfPem(pem.cert)
      this.options = {cert: pem.cert, key: pem.key}
      this.currentFingerprint = fingerprint
      const failures: unknown[] = []
      for (const listener of this.listeners) {
        try {
          listener(this.options)
        } catch (error) {
          failures.push(error)
        }
      }
      if (failures.length > 0) return {ok: false, error: failures[0] as Error}
      return {ok: true, fingerprint, changed: true}
    } catch (error) {
      return {ok: false, error: error as Error}
    }
  }
}

async function readPair(files: CertificateFiles): Promise<{cert: string; key: string}> {
  const read = async (path: string, what: string) =>
    readFile(path, 'utf8').catch((error: unknown) => {
      const {code, message} = error as NodeJS.ErrnoException
      throw new Error(`cannot read the TLS ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : message}`, {
        cause: error,
      })
    })
  const [cert, key] = await Promise.all([read(files.certFile, 'certificate'), read(files.keyFile, 'key')])
  return {cert, key}
}

function validateOrExplain(
  validate: (options: SecureContextOptions) => void,
  pem: {cert: string; key: string},
  files: CertificateFiles,
): void {
  try {
    fingerprintOfPem(pem.cert)
  } catch (error) {
    throw new Error(`${files.certFile} holds no PEM certificate`, {cause: error})
  }
  try {
    validate({cert: pem.cert, key: pem.key})
  } catch (error) {
    const why = (error as Error).message
    throw new Error(
      /key values mismatch/iu.test(why)
        ? `the key ${files.keyFile} does not belong to the certificate ${files.certFile}`
        : `cannot use ${files.certFile} with ${files.keyFile}: ${why}`,
      {cause: error},
    )
  }
}
