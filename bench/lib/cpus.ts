/**
 * CPU affinity through taskset(1) (util-linux), for benchmarks that give a
 * process cores of its own, e.g. an attacker that should not compete with its
 * victim for the CPU, as if it ran on another machine.
 */
import { execFileSync } from 'node:child_process'

/** `0-3,6` → [0, 1, 2, 3, 6]. Throws on anything else. */
export function parseCpuList (list: string): number[] {
  const text = list.trim()
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw new Error(`not a CPU list: ${JSON.stringify(list)}`)
  return text.split(',').flatMap(part => {
    const [a, b = a] = part.split('-').map(Number) as [number, number?]
    if (b < a) throw new Error(`not a CPU list: ${JSON.stringify(list)}`)
    return Array.from({ length: b - a + 1 }, (_, i) => a + i)
  })
}

/** CPUs `pid` may run on (`taskset -c -p`: "pid 12's current affinity list: 0-3,6"). */
export function cpusOf (pid: number): number[] {
  const out = execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  return parseCpuList(out.slice(out.lastIndexOf(':') + 1))
}

/** Pin every thread of `pid` to `cpus`; threads it starts later inherit the mask. */
export function pin (pid: number, cpus: number[]): void {
  execFileSync('taskset', ['-a', '-c', '-p', cpus.join(','), String(pid)], { stdio: 'ignore' })
}

/**
 * Split the CPUs this process may use: it keeps all but the last, which is
 * returned for another process (start it with `taskset -c <cpu> …`).
 * Undefined, with the reason, when there is one CPU or no taskset.
 */
export function splitOffLastCpu (): { cpu: number } | { reason: string } {
  let cpus: number[]
  try {
    cpus = cpusOf(process.pid)
  } catch (err) {
    return { reason: `taskset (util-linux) is needed: ${(err as Error).message.split('\n')[0] ?? ''}` }
  }
  if (cpus.length < 2) return { reason: `this process may use ${cpus.length} CPU` }
  pin(process.pid, cpus.slice(0, -1))
  return { cpu: cpus[cpus.length - 1] as number }
}
