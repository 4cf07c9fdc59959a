/**
 * `node --import <this file>`: log every module the process resolves (see
 * load-log-hooks.ts) to the file named by `DOSWARM_LOAD_LOG`.
 */
import { register } from 'node:module'

register('./load-log-hooks.js', import.meta.url)
