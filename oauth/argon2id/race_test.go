//go:build race

package argon2id

// raceEnabled: under the race detector, sync.Pool drops a random share of
// what is put into it, so a test of reuse through the pool cannot hold.
const raceEnabled = true
