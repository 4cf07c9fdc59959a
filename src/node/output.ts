import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { UsageError } from '../errors.js'

/**
 * Check the output path before any byte is fetched: its directory must
 * exist and it must not be a directory. Returns the absolute path.
 */
export async function checkOutputPath (out: string): Promise<string> {
  const abs = resolve(out)
  const parent = await stat(dirname(abs)).catch(() => undefined)
  if (parent?.isDirectory() !== true) throw new UsageError(`output directory ${dirname(abs)} does not exist`)
  const existing = await stat(abs).catch(() => undefined)
  if (existing?.isDirectory() === true) throw new UsageError(`output ${abs} is a directory`)
  return abs
}
