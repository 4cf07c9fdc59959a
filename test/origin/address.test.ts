import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { classifyAddress, isPrivateAddress } from '../../src/origin/index.js'

// Pure classification of address strings: no traffic is sent anywhere.
describe('isPrivateAddress', () => {
  const priv = [
    '127.0.0.1', '127.255.255.254', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255',
    '192.168.1.1', '169.254.169.254', '100.64.0.1', '100.127.255.255', '0.0.0.0', '0.1.2.3',
    '224.0.0.1', '255.255.255.255', '198.18.0.1', '192.0.0.8',
    '::', '::1', '[::1]', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', 'fec0::1',
    '::ffff:127.0.0.1', '::ffff:10.1.2.3', '::ffff:7f00:1', '::ffff:192.168.0.1', '::127.0.0.1',
    '64:ff9b::10.0.0.1', '2002:c0a8:0101::1', '2002:7f00:1::'
  ]
  const pub = [
    '8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1', '169.253.0.1',
    '192.169.0.1', '11.0.0.1', '126.255.255.255', '128.0.0.1', '223.255.255.255',
    '2001:4860:4860::8888', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8', '2002:0808:0808::1',
    'fe7f::1', 'fbff::1'
  ]
  for (const ip of priv) it(`${ip} is private`, () => assert.equal(isPrivateAddress(ip), true))
  for (const ip of pub) it(`${ip} is public`, () => assert.equal(isPrivateAddress(ip), false))

  it('fails closed on input that is not an IP literal', () => {
    for (const s of ['', 'localhost', 'example.com', '1.2.3', '999.1.1.1', '::g', '1.2.3.4.5']) {
      assert.equal(isPrivateAddress(s), true, s)
    }
  })

  it('classifyAddress labels the same way', () => {
    assert.equal(classifyAddress('10.0.0.1'), 'private')
    assert.equal(classifyAddress('8.8.4.4'), 'public')
  })
})
