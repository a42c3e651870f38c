//go:build race

package main

// raceEnabled: the race detector's shadow memory inflates resident memory several times,
// so peak-RSS assertions do not hold under it.
const raceEnabled = true
