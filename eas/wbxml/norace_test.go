//go:build !race

package wbxml

const raceEnabled = false
