/**
 * Long fuzz run of every untrusted-input parser (THREATS T4, T7, C2, C4, R4):
 * the same fast-check properties as test/security/fuzz.test.ts, with more runs.
 *
 *   node dist/bench/fuzz.js --runs 100000 [--seed N]
 *
 * Prints one line per target (runs, time) and exits 1 on the first
 * counterexample, with fast-check's seed and path to replay it.
 */
import fc from 'fast-check'
import { fuzzTargets } from '../test/helpers/fuzz-targets.js'
import { cliArgs } from './lib/args.js'

const args = cliArgs('node dist/bench/fuzz.js [--runs N] [--seed N]\nLong fast-check run of the parsers of untrusted input.', {
  runs: { type: 'string', default: '100000', help: 'runs per target' },
  seed: { type: 'string', help: 'fast-check seed (default: random)' }
})
const runs = args.num('runs')
const seedText = args.optStr('seed')
let failed = false
for (const target of fuzzTargets()) {
  const t0 = performance.now()
  const result = fc.check(target.property(), { numRuns: runs, ...(seedText !== undefined && { seed: Number(seedText) }) })
  const s = ((performance.now() - t0) / 1000).toFixed(1)
  if (result.failed) {
    failed = true
    console.log(`FAIL ${target.name} after ${result.numRuns} runs (${s} s): seed ${result.seed}, path "${result.counterexamplePath ?? ''}"`)
    console.log(`     counterexample: ${JSON.stringify(result.counterexample)?.slice(0, 400)}`)
    console.log(`     ${String(result.errorInstance).split('\n')[0]}`)
  } else {
    console.log(`ok   ${target.name}: ${result.numRuns} runs in ${s} s (seed ${result.seed})`)
  }
}
process.exitCode = failed ? 1 : 0
