//go:build !unix

package main

// matchOwner has nothing to do where the service runs as an
// administrator account (Windows: LocalSystem).
func matchOwner(path, dir string) error { return nil }
