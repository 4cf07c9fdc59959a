import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * Per-user cache directory: `$XDG_CACHE_HOME/doswarm` or `~/.cache/doswarm`
 * on Linux, `~/Library/Caches/doswarm` on macOS, `%LOCALAPPDATA%\doswarm\cache`
 * on Windows. `DOSWARM_CACHE` overrides all of them.
 */
export function defaultCacheDir (env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env.DOSWARM_CACHE !== undefined && env.DOSWARM_CACHE !== '') return env.DOSWARM_CACHE
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'doswarm', 'cache')
  if (platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'doswarm')
  const xdg = env.XDG_CACHE_HOME
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'doswarm')
}
