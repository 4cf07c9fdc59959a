/**
 * Fuzzing of every parser of untrusted input with fast-check (targets in
 * test/helpers/fuzz-targets.ts). `DOSWARM_FUZZ_RUNS=100000 node --test
 * dist/test/security/fuzz.test.js` or `node dist/bench/fuzz.js --runs
 * 100000` for a long run; a failure prints fast-check's seed and path to replay.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import fc from 'fast-check'
import { fuzzTargets, runsFor } from '../helpers/fuzz-targets.js'

for (const target of fuzzTargets()) {
  test(`fuzz: ${target.name}`, { timeout: 120_000 }, () => {
    fc.assert(target.property(), { numRuns: runsFor(target) })
  })
}
