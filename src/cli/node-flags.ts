/**
 * Flags doswarm's Node process runs with. They are in the CLI's first line
 * (`#!/usr/bin/env -S node …`, kept equal to this list by a test), because
 * Node refuses them in NODE_OPTIONS and setting them at run time
 * (`v8.setFlagsFromString`) changed nothing measurable. Programs that start
 * the CLI with `node main.js` (the benchmarks) pass them themselves.
 *
 * `--initial-old-space-size=64`: with V8's default start, a node moving
 * pieces kept re-starting full-heap marking about every 100 ms (`--trace-gc`)
 * while its heap held only 15–16 MB — the old space's spare room stayed below
 * what the new space, driven to its maximum by the libp2p/Noise stack's
 * allocations, might promote. Measured, 1 GiB seeder → leecher, 3 alternating
 * rounds each: seeder 5.8 → 3.3–3.7 CPU s per GiB, leecher 7.5–8.6 →
 * 7.1–7.7, 134 → 171 MB/s (docs/benchmarks.md, "CPU per GiB").
 */
export const NODE_FLAGS: readonly string[] = Object.freeze(['--initial-old-space-size=64'])
