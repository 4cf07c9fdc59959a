// The LAN benchmark uses TCP peers only. webrtc-polyfill would need
// node-datachannel, whose install downloads a binary that cannot be fetched
// here; this stub lets `import 'webtorrent'` load and throws if WebRTC is used.
function unavailable () { throw new Error('WebRTC is not available in the doswarm LAN benchmark (stub webrtc-polyfill)') }
export class RTCPeerConnection { constructor () { unavailable() } }
export class RTCSessionDescription { constructor () { unavailable() } }
export class RTCIceCandidate { constructor () { unavailable() } }
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate }
