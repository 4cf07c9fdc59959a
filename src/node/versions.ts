/**
 * Rollback protection (THREATS T7, The Update Framework's rule): for each
 * content name of each publisher, the highest manifest version this node has
 * accepted is persisted, and a manifest with a lower version is refused with
 * {@link ManifestRollbackError} before any byte of its file is fetched. An
 * attacker who replays an old, validly signed manifest (say, of a build with
 * a known hole) therefore cannot make a node go back, not even across a
 * restart.
 *
 * The record lives in `<stateDir>/manifest-versions.json`, replaced
 * atomically (temp + fsync + rename + directory fsync: C6). A record that is
 * unreadable or malformed is not silently reset: it throws
 * {@link StoreIoError}, because forgetting the floor would re-open the
 * rollback hole.
 */
import { mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { ManifestRollbackError, StoreIoError } from '../errors.js'
import type { Manifest } from '../manifest/types.js'
import { nodeStoreFs, writeFileAtomic } from '../store/index.js'

/** File name of the record inside the state directory. */
export const VERSIONS_FILE = 'manifest-versions.json'
/** The record is refused (not read) above this size. @default 16 MiB */
export const MAX_VERSIONS_FILE_BYTES = 16 * 1024 * 1024

/** One record: the highest version accepted for a publisher's content name. */
export interface VersionRecord {
  publisher: string
  name: string
  version: number
  /** content id of the manifest that set this version */
  contentId: string
}

interface VersionsFile {
  format: 1
  records: VersionRecord[]
}

/** The persisted highest-version table of one state directory. */
export class VersionGuard {
  readonly dir: string
  readonly path: string
  /** serialises read-modify-write cycles of this process */
  #queue: Promise<unknown> = Promise.resolve()

  constructor (stateDir: string) {
    this.dir = stateDir
    this.path = join(stateDir, VERSIONS_FILE)
  }

  /**
   * Admit a verified manifest: throw {@link ManifestRollbackError} if a
   * higher version of its (publisher, name) was accepted before; otherwise
   * raise the persisted floor to its version (durably, before returning).
   * Equal versions are admitted: a publisher that never bumps the version
   * (the default is 1) can still republish.
   */
  async admit (manifest: Pick<Manifest, 'publisher' | 'name' | 'version' | 'contentId'>): Promise<void> {
    const run = this.#queue.then(async () => { await this.#admit(manifest) })
    this.#queue = run.catch(() => {})
    await run
  }

  /** The highest accepted version of a (publisher, name), if any. */
  async highest (publisher: string, name: string): Promise<VersionRecord | undefined> {
    const records = await this.#read()
    return records.find(r => r.publisher === publisher && r.name === name)
  }

  async #admit (m: Pick<Manifest, 'publisher' | 'name' | 'version' | 'contentId'>): Promise<void> {
    const records = await this.#read()
    const seen = records.find(r => r.publisher === m.publisher && r.name === m.name)
    if (seen !== undefined && m.version < seen.version) {
      throw new ManifestRollbackError(`manifest "${m.name}" version ${m.version} is older than version ${seen.version} already accepted from this publisher (rollback refused)`)
    }
    if (seen !== undefined && seen.version === m.version) return
    if (seen !== undefined) {
      seen.version = m.version
      seen.contentId = m.contentId
    } else {
      records.push({ publisher: m.publisher, name: m.name, version: m.version, contentId: m.contentId })
    }
    const file: VersionsFile = { format: 1, records }
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      await writeFileAtomic(nodeStoreFs, this.dir, VERSIONS_FILE, new TextEncoder().encode(JSON.stringify(file)))
    } catch (err) {
      throw new StoreIoError(`cannot record the manifest version in ${this.path}: ${(err as Error).message}`, { cause: err })
    }
  }

  async #read (): Promise<VersionRecord[]> {
    let text: string
    try {
      const fh = await open(this.path, 'r')
      try {
        const { size } = await fh.stat()
        if (size > MAX_VERSIONS_FILE_BYTES) throw new StoreIoError(`${this.path} is ${size} bytes, over the ${MAX_VERSIONS_FILE_BYTES}-byte cap`)
        text = (await fh.readFile()).toString('utf8')
      } finally {
        await fh.close()
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      if (err instanceof StoreIoError) throw err
      throw new StoreIoError(`cannot read ${this.path}: ${(err as Error).message}`, { cause: err })
    }
    return parseVersionsFile(text, this.path)
  }
}

/** Parse the record; throws {@link StoreIoError} naming the problem. */
export function parseVersionsFile (text: string, path = VERSIONS_FILE): VersionRecord[] {
  const bad = (why: string): StoreIoError => new StoreIoError(`${path} is damaged (${why}); refusing to forget the rollback floor — restore or delete it deliberately`)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw bad('not JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as VersionsFile).format !== 1 || !Array.isArray((parsed as VersionsFile).records)) throw bad('unknown format')
  const out: VersionRecord[] = []
  for (const r of (parsed as VersionsFile).records as unknown[]) {
    const x = r as Partial<VersionRecord> | null
    if (typeof x !== 'object' || x === null || typeof x.publisher !== 'string' || typeof x.name !== 'string' ||
        typeof x.contentId !== 'string' || typeof x.version !== 'number' || !Number.isSafeInteger(x.version) || x.version < 0) {
      throw bad('bad record')
    }
    out.push({ publisher: x.publisher, name: x.name, version: x.version, contentId: x.contentId })
  }
  return out
}
