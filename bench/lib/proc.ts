/**
 * Child processes for benchmarks: each in its own process group (so a kill
 * reaches anything it started), a deadline on every one, all of them killed
 * and all scratch data removed when the benchmark exits — normally, by a
 * signal or by an exception.
 *
 * Peak RSS and CPU time come from GNU time (`wait4` rusage: exact) when
 * /usr/bin/time exists; otherwise /proc/<pid>/status VmHWM and
 * /proc/<pid>/stat utime+stime are polled every 50 ms (the last 50 ms of a
 * process are then not seen).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

const GNU_TIME = '/usr/bin/time'
/** Clock ticks per second for /proc/<pid>/stat (USER_HZ; 100 on Linux/x86). */
const CLK_TCK = 100
const POLL_MS = 50

const live = new Set<Child>()
const cleanups = new Set<() => void>()
let handlersInstalled = false

/** Run `fn` (synchronously) when the process exits, whatever the reason; returns an unregister function. */
export function atExit (fn: () => void): () => void {
  installExitHandlers()
  cleanups.add(fn)
  return () => { cleanups.delete(fn) }
}

/** Kill every live child's process group. */
export function killAll (signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const c of live) c.signal(signal)
}

function finalCleanup (): void {
  killAll('SIGKILL')
  for (const fn of [...cleanups].reverse()) {
    try { fn() } catch {}
  }
  cleanups.clear()
}

export function installExitHandlers (): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', finalCleanup)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: killing children and removing scratch data\n`)
      finalCleanup()
      process.exit(130)
    })
  }
  process.on('uncaughtException', err => {
    process.stderr.write(`benchmark failed: ${err.stack ?? String(err)}\n`)
    finalCleanup()
    process.exit(1)
  })
  process.on('unhandledRejection', err => {
    process.stderr.write(`benchmark failed: ${(err as Error)?.stack ?? String(err)}\n`)
    finalCleanup()
    process.exit(1)
  })
}

export interface ChildResult {
  name: string
  code: number | null
  signal: string | null
  timedOut: boolean
  /** spawn → exit, ms */
  wallMs: number
  /** performance.now() at spawn and at exit */
  startedAt: number
  endedAt: number
  /** peak resident set size in bytes */
  maxRssBytes?: number
  /** CPU seconds, user + system (all threads) */
  cpuSeconds?: number
  /** of which in the kernel */
  cpuSysSeconds?: number
  stdout: string
  stderr: string
}

export interface ChildOptions {
  name: string
  /** killed (SIGKILL to its group) after this long */
  timeoutMs: number
  /** measure peak RSS and CPU time */
  measure?: boolean
  /** directory for GNU time's report file (required with measure when GNU time is used) */
  measureDir?: string
  env?: NodeJS.ProcessEnv
  cwd?: string
}

let seq = 0

export class Child {
  readonly name: string
  readonly proc: ChildProcess
  readonly startedAt = performance.now()
  readonly exited: Promise<ChildResult>
  stdout = ''
  stderr = ''
  #lineWaiters: Array<{ test: (l: string) => boolean, resolve: (l: string) => void }> = []
  #lines: string[] = []
  #partial = ''
  #done = false

  constructor (cmd: string, args: string[], opts: ChildOptions) {
    this.name = opts.name
    const useTime = opts.measure === true && existsSync(GNU_TIME) && opts.measureDir !== undefined
    const timeFile = useTime ? join(opts.measureDir as string, `time-${process.pid}-${++seq}.txt`) : undefined
    const [file, argv] = timeFile !== undefined
      ? [GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, cmd, ...args]]
      : [cmd, args]
    this.proc = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: opts.env ?? process.env, cwd: opts.cwd })
    live.add(this)
    installExitHandlers()
    this.proc.stdout?.setEncoding('utf8').on('data', (d: string) => { this.#onStdout(d) })
    this.proc.stderr?.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; if (this.stderr.length > 1e6) this.stderr = this.stderr.slice(-5e5) })

    // fallback measurement: poll /proc while it runs
    const polled = { hwm: 0, ticks: 0, sysTicks: 0 }
    const pid = this.proc.pid
    const poll = opts.measure === true && !useTime && pid !== undefined
      ? setInterval(() => { readProc(pid, polled) }, POLL_MS)
      : undefined

    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; this.signal('SIGKILL') }, opts.timeoutMs)
    this.exited = new Promise<ChildResult>(resolve => {
      const finish = (code: number | null, signal: string | null): void => {
        if (this.#done) return
        this.#done = true
        const endedAt = performance.now()
        clearTimeout(timer)
        if (poll !== undefined) clearInterval(poll)
        live.delete(this)
        if (this.#partial !== '') { this.#line(this.#partial); this.#partial = '' }
        const base: ChildResult = { name: this.name, code, signal, timedOut, wallMs: endedAt - this.startedAt, startedAt: this.startedAt, endedAt, stdout: this.stdout, stderr: this.stderr }
        if (opts.measure !== true) { resolve(base); return }
        if (timeFile === undefined) {
          resolve({ ...base, maxRssBytes: polled.hwm, cpuSeconds: polled.ticks / CLK_TCK, cpuSysSeconds: polled.sysTicks / CLK_TCK })
          return
        }
        void readFile(timeFile, 'utf8').then(text => {
          rmSync(timeFile, { force: true })
          const last = text.trim().split('\n').pop() ?? ''
          const [kib, user, sys] = last.split(' ').map(Number)
          if (text.includes('terminated by signal') && signal === null) {
            const m = /signal (\d+)/.exec(text)
            base.signal = m !== null ? `signal ${m[1]}` : 'signal'
          }
          resolve(Number.isFinite(kib) ? { ...base, maxRssBytes: (kib ?? 0) * 1024, cpuSeconds: (user ?? 0) + (sys ?? 0), cpuSysSeconds: sys ?? 0 } : base)
        }, () => { resolve(base) })
      }
      // 'close' comes after the exit and after stdout/stderr ended, so the last line is in
      this.proc.once('close', (code, signal) => { finish(code, signal) })
      this.proc.once('error', err => { this.stderr += String(err); finish(null, 'spawn-error') })
    })
  }

  get pid (): number | undefined { return this.proc.pid }
  get running (): boolean { return !this.#done }
  get lines (): readonly string[] { return this.#lines }

  /** Send a signal to the child's whole process group. */
  signal (sig: NodeJS.Signals): void {
    if (this.#done || this.proc.pid === undefined) return
    try { process.kill(-this.proc.pid, sig) } catch {}
  }

  /** The first stdout line (past or future) for which `test` is true. */
  waitForLine (test: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.#lines.find(test)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${this.name}: no expected output within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)) }, timeoutMs)
      const waiter = { test, resolve: (l: string) => { clearTimeout(timer); resolve(l) } }
      this.#lineWaiters.push(waiter)
      void this.exited.then(r => {
        clearTimeout(timer)
        if (this.#lineWaiters.includes(waiter)) reject(new Error(`${this.name} exited (code ${String(r.code)}, ${String(r.signal)}) before the expected output; stderr: ${r.stderr.slice(-2000)}`))
      })
    })
  }

  #onStdout (d: string): void {
    this.stdout += d
    const parts = (this.#partial + d).split('\n')
    this.#partial = parts.pop() ?? ''
    for (const l of parts) this.#line(l)
  }

  #line (l: string): void {
    this.#lines.push(l)
    for (const w of [...this.#lineWaiters]) {
      if (w.test(l)) { this.#lineWaiters.splice(this.#lineWaiters.indexOf(w), 1); w.resolve(l) }
    }
  }
}

function readProc (pid: number, out: { hwm: number, ticks: number, sysTicks: number }): void {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmHWM:\s+(\d+) kB/.exec(status)
    if (m !== null) out.hwm = Math.max(out.hwm, Number(m[1]) * 1024)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    out.ticks = Number(fields[11]) + Number(fields[12])
    out.sysTicks = Number(fields[12])
  } catch {
    // exited between polls
  }
}

/** Start a child process (see {@link Child}). */
export function startChild (cmd: string, args: string[], opts: ChildOptions): Child {
  return new Child(cmd, args, opts)
}

/** Run to completion; throws with stderr when it does not exit 0. */
export async function run (cmd: string, args: string[], opts: ChildOptions): Promise<ChildResult> {
  const r = await startChild(cmd, args, opts).exited
  if (r.code !== 0) throw new Error(`${opts.name} failed (code ${String(r.code)}, signal ${String(r.signal)}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(-2000)}`)
  return r
}

/** CPU seconds (user + system) a live process has used so far, from /proc/<pid>/stat; NaN if unreadable. */
export function cpuSecondsOf (pid: number | undefined): number {
  if (pid === undefined) return NaN
  const out = { hwm: 0, ticks: NaN, sysTicks: NaN }
  readProc(pid, out)
  return out.ticks / CLK_TCK
}
