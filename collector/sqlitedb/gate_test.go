package sqlitedb

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentReadThenWriteTransactions runs many transactions that read
// the current maximum and insert the next number, from many goroutines:
// every one must succeed (no "database is locked", no busy snapshot) and
// the numbers must come out without gaps or duplicates, which only holds
// if the transactions were serialised.
func TestConcurrentReadThenWriteTransactions(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE n(v INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	const workers, each = 24, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				err := func() error {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					var max int
					if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(v), 0) FROM n`).Scan(&max); err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO n(v) VALUES(?)`, max+1); err != nil {
						return err
					}
					return tx.Commit()
				}()
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n, max int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(v) FROM n`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != workers*each || max != workers*each {
		t.Fatalf("%d rows, max %d; want %d and %d", n, max, workers*each, workers*each)
	}
}

// TestGateHeldUntilTransactionOrRowsEnd: a write transaction, and a
// writing query's rows (RETURNING), keep other writers of the process
// waiting until they end; reads never wait. A writer that waits too long
// gets an error that says why.
func TestGateHeldUntilTransactionOrRowsEnd(t *testing.T) {
	old := busyWait
	busyWait = 200 * time.Millisecond
	defer func() { busyWait = old }()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO t(v) VALUES('a')`); err != nil {
		t.Fatal(err)
	}
	// Another writer of this process waits, then gives up with a clear error.
	_, err = db.ExecContext(ctx, `INSERT INTO t(v) VALUES('b')`)
	if err == nil || !strings.Contains(err.Error(), "another write transaction of this process") {
		t.Fatalf("write during a transaction: %v", err)
	}
	// Reads go on.
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("read during a transaction: %d, %v", n, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// Released by the rollback.
	if _, err := db.ExecContext(ctx, `INSERT INTO t(v) VALUES('c')`); err != nil {
		t.Fatalf("write after rollback: %v", err)
	}

	// RETURNING outside a transaction holds the gate until its rows close.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `INSERT INTO t(v) VALUES('d') RETURNING id`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t(v) VALUES('e')`); err == nil {
		t.Fatal("a write went through while RETURNING rows were open")
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t(v) VALUES('f')`); err != nil {
		t.Fatalf("write after the rows closed: %v", err)
	}
}

func TestIsWrite(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                             false,
		"  select * from t":                    false,
		"(SELECT 1)":                           false,
		"WITH x AS (SELECT 1) SELECT * FROM x": false,
		"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x": true,
		"INSERT INTO t VALUES(1) RETURNING id":               true,
		"update t set v=1":                                   true,
		"PRAGMA table_info(t)":                               false,
		"PRAGMA user_version = 3":                            true,
		"PRAGMA wal_checkpoint(TRUNCATE)":                    true,
		"PRAGMA wal_checkpoint(PASSIVE)":                     false,
		"PRAGMA wal_checkpoint":                              false,
		"PRAGMA wal_autocheckpoint=0":                        true,
		"VACUUM INTO 'x'":                                    true,
	} {
		if got := isWrite(q); got != want {
			t.Errorf("isWrite(%q) = %v, want %v", q, got, want)
		}
	}
}

// BenchmarkConcurrentWriteTransactions: small write transactions from many
// goroutines, as the metadata database gets them under load.
func BenchmarkConcurrentWriteTransactions(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "g.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8)
	var mu sync.Mutex
	next := 0
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			next++
			k := fmt.Sprint(next)
			mu.Unlock()
			if _, err := db.ExecContext(ctx, `INSERT INTO t(k, v) VALUES(?, 1)`, k); err != nil {
				b.Fatal(err)
			}
		}
	})
}
