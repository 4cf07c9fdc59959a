/** Run the compiled `doswarm` command as a child process and collect its output. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The compiled CLI beside this helper (dist/src/cli/main.js for dist/test/helpers/cli.js). */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

export interface CliRun { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

export interface CliOptions {
  env?: NodeJS.ProcessEnv
  /** polled every 20 ms; returning true sends SIGKILL */
  killWhen?: (stdout: string, stderr: string) => boolean
}

export function runCli (args: string[], opts: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.env !== undefined ? { env: opts.env } : {}) })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
    child.on('error', reject)
    let timer: NodeJS.Timeout | undefined
    if (opts.killWhen !== undefined) {
      const when = opts.killWhen
      timer = setInterval(() => { if (when(stdout, stderr)) { clearInterval(timer); child.kill('SIGKILL') } }, 20)
    }
    child.on('close', (code, signal) => { clearInterval(timer); resolve({ code, signal, stdout, stderr }) })
  })
}
