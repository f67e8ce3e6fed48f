package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// embeddedFiles are the embedded store's databases, by file name.
func embeddedFiles(dataDir string) []string {
	return []string{server.MetaDBPath(dataDir), server.PointsDBPath(dataDir)}
}

func newBackupCmd() *cobra.Command {
	var f commonFlags
	var to string
	cmd := &cobra.Command{
		Use:   "backup --data-dir DIR --to BACKUP_DIR",
		Short: "Copy the embedded store (schulmon.db, points.db) consistently, while the collector runs",
		Long: `Write a consistent copy of the embedded store's two SQLite databases
(schulmon.db: sites, devices, tokens, availability; points.db: metrics)
into BACKUP_DIR with SQLite's VACUUM INTO. The collector may keep running:
each copy is one read transaction, so writes that arrive meanwhile are
either wholly in it or not at all. Each copy is checked with
PRAGMA integrity_check. Restore with 'schulmon-collector restore'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("name the backup directory with --to DIR")
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(to, 0o700); err != nil {
				return fmt.Errorf("create backup directory: %w", err)
			}
			for _, src := range embeddedFiles(cfg.DataDir) {
				dst := filepath.Join(to, filepath.Base(src))
				if _, err := os.Stat(src); err != nil {
					return fmt.Errorf("back up %s: %w (is --data-dir the collector's data directory?)", src, err)
				}
				if _, err := os.Stat(dst); err == nil {
					return fmt.Errorf("back up %s: %s exists already: choose a new --to directory", src, dst)
				}
				if err := vacuumInto(cmd.Context(), src, dst); err != nil {
					return err
				}
				if err := integrityCheck(cmd.Context(), dst); err != nil {
					return err
				}
				st, _ := os.Stat(dst)
				fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s (%d bytes, integrity ok)\n", src, dst, st.Size())
			}
			// The TLS pair too: agents pin its fingerprint, so a new one
			// after a restore would lock every school out.
			n, err := copyDir(filepath.Join(cfg.DataDir, "tls"), filepath.Join(to, "tls"))
			if err != nil {
				return err
			}
			if n > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "backed up %d TLS file(s) to %s\n", n, filepath.Join(to, "tls"))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "directory to write the copies into (must not hold a backup yet)")
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var f commonFlags
	var from string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore --from BACKUP_DIR --data-dir DIR [--force]",
		Short: "Put a backup made with 'backup' back into a data directory (stop the collector first)",
		Long: `Check the backup's databases with PRAGMA integrity_check and copy them
into the data directory, removing stale -wal and -shm files. Stop the
collector first. Existing databases are only replaced with --force; they
are kept beside as *.before-restore.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errors.New("name the backup directory with --from DIR")
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			targets := embeddedFiles(cfg.DataDir)
			for _, dst := range targets {
				src := filepath.Join(from, filepath.Base(dst))
				if err := integrityCheck(cmd.Context(), src); err != nil {
					return err
				}
				if _, err := os.Stat(dst); err == nil && !force {
					return fmt.Errorf("restore: %s exists: stop the collector and pass --force to replace it", dst)
				}
			}
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return fmt.Errorf("create data directory: %w", err)
			}
			for _, dst := range targets {
				src := filepath.Join(from, filepath.Base(dst))
				if _, err := os.Stat(dst); err == nil {
					if err := os.Rename(dst, dst+".before-restore"); err != nil {
						return fmt.Errorf("restore: keep the old %s: %w", dst, err)
					}
				}
				for _, side := range []string{"-wal", "-shm"} {
					if err := os.Remove(dst + side); err != nil && !errors.Is(err, os.ErrNotExist) {
						return fmt.Errorf("restore: remove stale %s: %w", dst+side, err)
					}
				}
				if err := copyFile(src, dst); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "restored %s from %s\n", dst, src)
			}
			if _, err := os.Stat(filepath.Join(from, "tls")); err == nil {
				tlsDir := filepath.Join(cfg.DataDir, "tls")
				if _, err := os.Stat(tlsDir); err == nil {
					if err := os.Rename(tlsDir, tlsDir+".before-restore"); err != nil {
						return fmt.Errorf("restore: keep the old %s: %w", tlsDir, err)
					}
				}
				n, err := copyDir(filepath.Join(from, "tls"), tlsDir)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "restored %d TLS file(s) into %s\n", n, tlsDir)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "backup directory written by 'schulmon-collector backup'")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing databases (kept as *.before-restore)")
	return cmd
}

func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sqlitedb.Open(ctx, src)
	if err != nil {
		return fmt.Errorf("back up %s: %w", src, err)
	}
	defer db.Close()
	// VACUUM INTO takes the file name as an SQL string literal.
	if _, err := db.ExecContext(ctx, `VACUUM INTO '`+strings.ReplaceAll(dst, "'", "''")+`'`); err != nil {
		os.Remove(dst)
		return fmt.Errorf("back up %s to %s: %w", src, dst, err)
	}
	return nil
}

func integrityCheck(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("check %s: integrity check failed: %s", path, res)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("restore %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	return out.Close()
}

// copyDir copies the regular files of src (if it exists) into dst, keeping
// their permissions; it returns how many it copied.
func copyDir(src, dst string) (int, error) {
	entries, err := os.ReadDir(src)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return 0, fmt.Errorf("copy %s: %w", src, err)
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return n, fmt.Errorf("copy %s: %w", src, err)
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return n, err
		}
		if err := os.Chmod(filepath.Join(dst, e.Name()), info.Mode().Perm()); err != nil {
			return n, fmt.Errorf("copy %s: %w", src, err)
		}
		n++
	}
	return n, nil
}
