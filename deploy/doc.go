// Package deploy holds no Go code for the binaries: it is the home of the
// deployment files (systemd units, nfpm packages, compose file,
// Kubernetes manifests, Dockerfile, Windows notes) and of the tests that
// check them: the units with systemd-analyze, the .deb by installing it
// into this machine with dpkg, the compose file and manifests by parsing
// them and following every reference. See README.md.
package deploy
