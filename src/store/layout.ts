/**
 * Where a content's files live: `<cacheDir>/<contentId>/{manifest,data,state}`.
 * The content id is the only name that ever becomes a path component, and only
 * after it matched {@link CONTENT_ID_PATTERN} (T9).
 */
import { join } from 'node:path'
import { ManifestMalformedError } from '../errors.js'
import { CONTENT_ID_PATTERN, DATA_FILE, MANIFEST_FILE, MAX_CONTENT_ID_LENGTH, STATE_FILE } from './constants.js'

export interface StorePaths {
  dir: string
  manifest: string
  data: string
  state: string
}

/** True when `id` may be used as a directory name. */
export function isSafeContentId (id: string): boolean {
  return id.length > 0 && id.length <= MAX_CONTENT_ID_LENGTH && CONTENT_ID_PATTERN.test(id)
}

export function storePaths (cacheDir: string, contentId: string): StorePaths {
  if (!isSafeContentId(contentId)) {
    throw new ManifestMalformedError(`content id ${JSON.stringify(contentId.slice(0, 80))} is not a safe path component`)
  }
  const dir = join(cacheDir, contentId)
  return { dir, manifest: join(dir, MANIFEST_FILE), data: join(dir, DATA_FILE), state: join(dir, STATE_FILE) }
}
