// Latch's DPoP (RFC 9449) as oauth4webapi, a client nobody at Latch wrote,
// sees it. handlers/oauth4webapi_test.go starts a Latch (JWT access
// tokens), registers the public client and the user, and runs this with:
//   LATCH_ISSUER, LATCH_CLIENT_ID, LATCH_USERNAME, LATCH_PASSWORD
// It prints one "ok ..." line per step and exits non-zero on the first
// failure.
import * as oauth from 'oauth4webapi'
import assert from 'node:assert/strict'
import { webcrypto as crypto } from 'node:crypto'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const issuer = new URL(env('LATCH_ISSUER'))
const client = { client_id: env('LATCH_CLIENT_ID') }
const clientAuth = oauth.None()
const insecure = { [oauth.allowInsecureRequests]: issuer.protocol === 'http:' }

// thumbprint is the RFC 7638 thumbprint of a public key, computed here
// rather than taken from either side: the required members in
// lexicographic order, SHA-256, base64url.
async function thumbprint (publicKey) {
  const jwk = await crypto.subtle.exportKey('jwk', publicKey)
  const members = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify(members)))
  return Buffer.from(digest).toString('base64url')
}

function claims (jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
}

// tokenCall sends a token request and processes the answer; when the server
// asks for a nonce (LATCH_DPOP_NONCE=on, RFC 9449 §8), the DPoP handle has
// kept the one it was given, and the request is sent once more, as
// oauth4webapi's documentation says to.
async function tokenCall (request, process) {
  try {
    return await process(await request())
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    nonceRetries++
    return await process(await request())
  }
}
let nonceRetries = 0

// expectRefused runs a refresh request that must fail with error.
async function expectRefused (what, error, request) {
  let res
  try {
    res = await tokenCall(request, (r) => oauth.processRefreshTokenResponse(as, client, r))
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) {
      assert.equal(err.error, error, `${what}: error`)
      assert.equal(err.status, 400, `${what}: status`)
      console.log(`ok ${what}: ${err.status} ${err.error}`)
      return
    }
    throw err
  }
  throw new Error(`${what}: succeeded (${JSON.stringify(Object.keys(res))}), want ${error}`)
}

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
assert.ok(as.dpop_signing_alg_values_supported.includes('ES256'), 'metadata lists ES256')
console.log('ok discovery')

for (const alg of ['ES256', 'Ed25519']) {
  const keyPair = await oauth.generateKeyPair(alg)
  const jkt = await thumbprint(keyPair.publicKey)
  const DPoP = oauth.DPoP(client, keyPair)

  // Password grant with DPoP, as a public client.
  const login = await tokenCall(
    () => oauth.genericTokenEndpointRequest(as, client, clientAuth, 'password',
      { username: env('LATCH_USERNAME'), password: env('LATCH_PASSWORD'), scope: 'read' }, { DPoP, ...insecure }),
    (r) => oauth.processGenericTokenEndpointResponse(as, client, r))
  assert.equal(login.token_type, 'dpop', `${alg}: token_type`) // oauth4webapi lower-cases it
  assert.ok(login.refresh_token, `${alg}: refresh_token`)
  assert.equal(claims(login.access_token).cnf?.jkt, jkt, `${alg}: cnf.jkt of the login's access token`)
  console.log(`ok ${alg} password grant: token_type DPoP, cnf.jkt is the key's RFC 7638 thumbprint`)

  // Refresh with another key: refused, and the refresh token not spent.
  const other = oauth.DPoP(client, await oauth.generateKeyPair(alg))
  await expectRefused(`${alg} refresh with another key`, 'invalid_dpop_proof',
    () => oauth.refreshTokenGrantRequest(as, client, clientAuth, login.refresh_token, { DPoP: other, ...insecure }))
  // Without a proof at all: refused too.
  await expectRefused(`${alg} refresh without a proof`, 'invalid_dpop_proof',
    () => oauth.refreshTokenGrantRequest(as, client, clientAuth, login.refresh_token, insecure))

  // Refresh with the same key: the token was not spent by the refusals.
  const refreshed = await tokenCall(
    () => oauth.refreshTokenGrantRequest(as, client, clientAuth, login.refresh_token, { DPoP, ...insecure }),
    (r) => oauth.processRefreshTokenResponse(as, client, r))
  assert.equal(refreshed.token_type, 'dpop', `${alg}: refreshed token_type`)
  assert.notEqual(refreshed.refresh_token, login.refresh_token, `${alg}: the refresh token rotates`)
  assert.equal(claims(refreshed.access_token).cnf?.jkt, jkt, `${alg}: cnf.jkt of the refreshed access token`)
  console.log(`ok ${alg} refresh with the same key: rotated, still bound to the key`)
}
if (process.env.LATCH_DPOP_NONCE === 'on') {
  assert.ok(nonceRetries > 0, 'the server asked for a nonce')
  console.log(`ok nonces: ${nonceRetries} requests retried with the server's nonce`)
}
console.log('ok all')
