/**
 * Module customization hooks (`module.register`) that append every resolved
 * module URL to the file named by `DOSWARM_LOAD_LOG`. Registered by
 * load-log.ts; tests use the log to check what a command loads.
 */
import { appendFileSync } from 'node:fs'

interface Resolved { url: string }
type NextResolve = (specifier: string, context: unknown) => Promise<Resolved>

export async function resolve (specifier: string, context: unknown, next: NextResolve): Promise<Resolved> {
  const r = await next(specifier, context)
  const log = process.env.DOSWARM_LOAD_LOG
  if (log !== undefined && log !== '') appendFileSync(log, r.url + '\n')
  return r
}
