//go:build race

package wbxml

const raceEnabled = true
