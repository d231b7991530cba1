// A real small disk for the tests that fill one: a tmpfs mounted for a suite (root only; elsewhere
// the suite is skipped with one line saying why).
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/** Call `mount(this)` in the suite's `before` and `unmount()` in its `after`. */
export class Tmpfs {
  mountPoint = ''
  private base = ''
  private isMounted = false

  /** `bytes`: the disk's size. */
  constructor(
    private readonly prefix: string,
    private readonly bytes: number,
  ) {}

  /** Mounts it at a fresh folder, or skips the suite where mounting is not allowed. */
  mount(context: Mocha.Context): void {
    this.base = mkdtempSync(join(tmpdir(), this.prefix))
    this.mountPoint = join(this.base, 'mnt')
    mkdirSync(this.mountPoint)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${this.bytes}`, 'tmpfs', this.mountPoint], {stdio: 'pipe'})
      this.isMounted = true
    } catch (error) {
      console.log(`      (skipped: cannot mount tmpfs here: ${(error as Error).message.split('\n', 1)[0]})`)
      context.skip()
    }
  }

  unmount(): void {
    if (this.isMounted) execFileSync('umount', [this.mountPoint])
    this.isMounted = false
    rmSync(this.base, {recursive: true, force: true})
  }
}
