/**
 * Where a manifest comes from: bytes in hand, a file, or an `https://` URL.
 * For HTTPS the server's public key may be pinned (SHA-256 of its
 * SubjectPublicKeyInfo, base64) — the rule Windows Update applies to its
 * metadata. Whatever the transport, the signature is checked afterwards.
 */
import { X509Certificate, createHash } from 'node:crypto'
import { request } from 'node:https'
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import { open } from 'node:fs/promises'
import { AbortedError, ManifestFetchError, ManifestTooLargeError, TlsPinMismatchError, UsageError } from '../errors.js'
import { MAX_MANIFEST_BYTES } from '../manifest/index.js'

/** Deadline for fetching a manifest over HTTPS. @default 30000 */
export const MANIFEST_FETCH_TIMEOUT_MS = 30_000

export interface ManifestFetchOptions {
  /** Accepted SPKI SHA-256 pins (base64). A server whose key matches none is refused. */
  pin?: string | string[]
  /** Extra trusted CA certificates (PEM), e.g. a private CA. */
  ca?: string | Buffer | Array<string | Buffer>
  signal?: AbortSignal
  /** @default MANIFEST_FETCH_TIMEOUT_MS */
  timeoutMs?: number
}

/** A manifest given as bytes, a file path, or an https URL. */
export type ManifestInput = Uint8Array | string | URL

/**
 * SPKI SHA-256 pin (base64) of a certificate: the hash of its DER
 * SubjectPublicKeyInfo, the form HPKP and `openssl … -pubkey | sha256` use.
 */
export function spkiPin (cert: Pick<PeerCertificate, 'raw'> | X509Certificate): string {
  const x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert.raw)
  return createHash('sha256').update(x509.publicKey.export({ type: 'spki', format: 'der' })).digest('base64')
}

/** Read the signed manifest bytes from any supported input (not yet verified). */
export async function loadManifestBytes (input: ManifestInput, opts: ManifestFetchOptions = {}): Promise<Uint8Array> {
  if (input instanceof Uint8Array) return input
  const text = input.toString()
  if (input instanceof URL || /^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const url = new URL(text)
    if (url.protocol !== 'https:') throw new UsageError(`manifest URL ${text}: only https:// is accepted`)
    return await fetchManifest(url, opts)
  }
  return await readManifestFile(text)
}

async function readManifestFile (path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r').catch(() => { throw new UsageError(`cannot read manifest ${path}`) })
  try {
    const { size } = await fh.stat()
    if (size > MAX_MANIFEST_BYTES) throw new ManifestTooLargeError(`manifest ${path} is ${size} bytes, over the ${MAX_MANIFEST_BYTES}-byte cap`)
    const buf = new Uint8Array(size)
    const { bytesRead } = await fh.read(buf, 0, size, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

function fetchManifest (url: URL, opts: ManifestFetchOptions): Promise<Uint8Array> {
  const pins = opts.pin === undefined ? [] : Array.isArray(opts.pin) ? opts.pin : [opts.pin]
  const deadline = AbortSignal.timeout(opts.timeoutMs ?? MANIFEST_FETCH_TIMEOUT_MS)
  const signal = opts.signal === undefined ? deadline : AbortSignal.any([opts.signal, deadline])
  return new Promise((resolve, reject) => {
    let pinError: TlsPinMismatchError | undefined
    const req = request(url, {
      method: 'GET',
      signal,
      // a fresh connection every time: a pooled one was checked against another call's pins
      agent: false,
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      checkServerIdentity: (host, cert) => {
        const err = checkServerIdentity(host, cert)
        if (err !== undefined) return err
        if (pins.length > 0 && !pins.includes(spkiPin(cert))) {
          pinError = new TlsPinMismatchError(`${url.host} presented a public key (sha256/${spkiPin(cert)}) that matches no pin`)
          return pinError
        }
        return undefined
      }
    }, res => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(new ManifestFetchError(`GET ${url.href}: HTTP ${res.statusCode ?? '?'}`))
        return
      }
      const declared = Number(res.headers['content-length'] ?? NaN)
      if (declared > MAX_MANIFEST_BYTES) {
        res.destroy()
        reject(new ManifestTooLargeError(`manifest at ${url.href} is ${declared} bytes, over the cap`))
        return
      }
      const chunks: Buffer[] = []
      let total = 0
      res.on('data', (b: Buffer) => {
        total += b.length
        // the cap holds even when Content-Length lies or is absent
        if (total > MAX_MANIFEST_BYTES) { res.destroy(); reject(new ManifestTooLargeError(`manifest at ${url.href} exceeds ${MAX_MANIFEST_BYTES} bytes`)); return }
        chunks.push(b)
      })
      res.on('end', () => { resolve(new Uint8Array(Buffer.concat(chunks))) })
      res.on('error', err => { reject(new ManifestFetchError(`GET ${url.href}: ${err.message}`, { cause: err })) })
    })
    req.on('error', err => {
      if (pinError !== undefined) reject(pinError)
      else if (opts.signal?.aborted === true) reject(new AbortedError())
      else if (deadline.aborted) reject(new ManifestFetchError(`GET ${url.href}: no answer within ${opts.timeoutMs ?? MANIFEST_FETCH_TIMEOUT_MS} ms`))
      else reject(new ManifestFetchError(`GET ${url.href}: ${err.message}`, { cause: err }))
    })
    req.end()
  })
}
