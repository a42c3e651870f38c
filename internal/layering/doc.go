// Package layering holds the test that keeps the module's imports pointing one way: each
// package may import only packages of its own layer or of the layers below it, as
// docs/design.md draws them. It has no code of its own.
package layering
