/**
 * Run the kill -9 writer (fixtures/writer.ts) and SIGKILL it at a random
 * moment: mostly while it puts pieces (after `ready`), sometimes while it is
 * still opening and re-verifying. Shared by crash.test.ts and bench/kill-loop.ts.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

export const WRITER = fileURLToPath(new URL('./fixtures/writer.js', import.meta.url))

export interface KilledRun {
  killed: boolean
  /** pieces the writer announced as durable, from whole lines only (a line cut by the kill was never fully reported) */
  durable: number[]
}

/** `args`: cacheDir, source file, output path, piece size. Rejects when the writer failed on its own. */
export async function runKilledWriter (args: string[], maxDelayAfterReadyMs = 40): Promise<KilledRun> {
  const child = spawn(process.execPath, [WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let timer: ReturnType<typeof setTimeout> | undefined
  const kill = (): void => { child.kill('SIGKILL') }
  if (Math.random() < 0.25) timer = setTimeout(kill, 30 + Math.random() * 80)
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    if (timer === undefined && (stdout + chunk).includes('ready')) timer = setTimeout(kill, Math.random() * maxDelayAfterReadyMs)
    stdout += chunk
  })
  child.stderr.on('data', (chunk: string) => { stderr += chunk })
  const [code, signal] = await once(child, 'close') as [number | null, NodeJS.Signals | null]
  clearTimeout(timer)
  const killed = signal === 'SIGKILL'
  if (!killed && code !== 0) throw new Error(`writer failed (exit ${String(code)}): ${stderr}`)
  const durable: number[] = []
  for (const line of stdout.split('\n').slice(0, -1)) {
    if (line.startsWith('durable ')) durable.push(...line.slice(8).split(',').map(Number))
  }
  return { killed, durable }
}
