//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// matchOwner gives path to the owner of dir when enroll runs as root: the
// packaged agent runs as schulmon-agent and must read the token that an
// administrator enrolled with sudo.
func matchOwner(path, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("give %s to the state directory's owner (uid %d): %w", path, st.Uid, err)
	}
	return nil
}
