/**
 * Limits of `/doswarm/swarm/1.0.0`. Each constant quotes the sentence of
 * docs/PROTOCOL.md it implements (a test checks that the quotes still match).
 */

/** Spec: "The protocol id is `/doswarm/swarm/1.0.0`." */
export const PROTOCOL_ID = '/doswarm/swarm/1.0.0'

/** Spec: "headerLength MUST be between 1 and 4096; a receiver MUST check it before allocating or buffering the header." */
export const MAX_HEADER_LENGTH = 4096

/** Spec: "The payloadLength of a PIECE MUST NOT exceed the content's piece size, which is at most 16 MiB (16,777,216 bytes)." */
export const MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024

/** Spec: "pieceCount MUST NOT exceed 1,048,576 (2^20), so a bitfield is at most 131,072 bytes." */
export const MAX_PIECE_COUNT = 1024 * 1024

/** Spec: "pieceCount MUST NOT exceed 1,048,576 (2^20), so a bitfield is at most 131,072 bytes." */
export const MAX_BITFIELD_LENGTH = MAX_PIECE_COUNT / 8

/** Spec: "contentId MUST be 1 to 128 ASCII letters and digits." */
export const MAX_CONTENT_ID_LENGTH = 128

/** Spec: "A HELLO carries at most 16 listenAddrs." */
export const MAX_LISTEN_ADDRS = 16

/** Spec: "Every address MUST be 1 to 256 bytes of printable ASCII (0x21 to 0x7E) starting with `/`." */
export const MAX_ADDR_LENGTH = 256

/** Spec: "A CLAIM or RELEASE carries 1 to 1024 indices, strictly increasing." */
export const MAX_CLAIM_INDICES = 1024

/** Spec: "ttlMs MUST be between 1 and 120,000 (two minutes)." */
export const MAX_CLAIM_TTL_MS = 120_000

/** Spec: "A PEERS message carries 1 to 64 peer records." */
export const MAX_PEERS = 64

/** Spec: "peerId MUST be 1 to 128 ASCII letters and digits." */
export const MAX_PEER_ID_LENGTH = 128

/** Spec: "Each peer record carries 1 to 16 addrs." */
export const MAX_PEER_ADDRS = 16

/** Spec: "A requester MUST NOT have more than 32 outstanding requests on one stream." */
export const MAX_OUTSTANDING_REQUESTS = 32

/** Largest value of a uint32 field. */
export const MAX_UINT32 = 0xffff_ffff
