//go:build !purego

package calib

const puregoBuild = false
