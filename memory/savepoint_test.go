package memory_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

// Savepoints in a write transaction: a nested write that opens first thing
// shares its enclosing savepoint instead of opening one, and on PostgreSQL
// releases travel with the next savepoint. Whatever the shape, a write that
// fails undoes its own rows and nothing else, and one that succeeds keeps
// them, even when the write around it fails afterwards (then both go).
func TestSavepointShapes(t *testing.T) {
	failed := errors.New("this write fails")
	ctx := context.Background()
	insert := func(tx memory.Tx, v string) error {
		return tx.Exec("INSERT INTO sp_rows (v) VALUES (?)", v)
	}
	inserting := func(v string) func(memory.Tx) error {
		return func(tx memory.Tx) error { return insert(tx, v) }
	}
	// failing writes v, then fails.
	failing := func(v string) func(memory.Tx) error {
		return func(tx memory.Tx) error {
			if err := insert(tx, v); err != nil {
				return err
			}
			return failed
		}
	}
	for _, tc := range []struct {
		name string
		run  func(tx memory.Tx) error
		want []string
	}{
		{"nested first and failing", func(tx memory.Tx) error {
			return tx.Savepoint(ctx, func(tx memory.Tx) error {
				if err := tx.Savepoint(ctx, failing("inner")); !errors.Is(err, failed) {
					return errors.New("the inner failure was not returned")
				}
				return insert(tx, "outer")
			})
		}, []string{"outer"}},
		{"nested first, kept, then the write around it fails", func(tx memory.Tx) error {
			if err := insert(tx, "before"); err != nil {
				return err
			}
			err := tx.Savepoint(ctx, func(tx memory.Tx) error {
				if err := tx.Savepoint(ctx, inserting("inner")); err != nil {
					return err
				}
				return failed
			})
			if !errors.Is(err, failed) {
				return errors.New("the outer failure was not returned")
			}
			return insert(tx, "after")
		}, []string{"after", "before"}},
		{"nested after a statement and failing", func(tx memory.Tx) error {
			return tx.Savepoint(ctx, func(tx memory.Tx) error {
				if err := insert(tx, "outer"); err != nil {
					return err
				}
				if err := tx.Savepoint(ctx, failing("inner")); !errors.Is(err, failed) {
					return errors.New("the inner failure was not returned")
				}
				return insert(tx, "outer2")
			})
		}, []string{"outer", "outer2"}},
		{"three deep, the deepest failing, the middle going on", func(tx memory.Tx) error {
			return tx.Savepoint(ctx, func(tx memory.Tx) error {
				return tx.Savepoint(ctx, func(tx memory.Tx) error {
					if err := tx.Savepoint(ctx, failing("deepest")); !errors.Is(err, failed) {
						return errors.New("the deepest failure was not returned")
					}
					// Back where nothing ran: the next one may share again.
					if err := tx.Savepoint(ctx, inserting("again")); err != nil {
						return err
					}
					return insert(tx, "middle")
				})
			})
		}, []string{"again", "middle"}},
		{"released siblings, then one fails", func(tx memory.Tx) error {
			for _, v := range []string{"a", "b"} {
				if err := tx.Savepoint(ctx, func(tx memory.Tx) error {
					if err := insert(tx, v); err != nil {
						return err
					}
					return tx.Savepoint(ctx, inserting(v+"-inner"))
				}); err != nil {
					return err
				}
			}
			err := tx.Savepoint(ctx, func(tx memory.Tx) error {
				if err := insert(tx, "c"); err != nil {
					return err
				}
				if err := tx.Savepoint(ctx, func(tx memory.Tx) error {
					if err := insert(tx, "c-inner"); err != nil {
						return err
					}
					return tx.Savepoint(ctx, inserting("c-inner-inner"))
				}); err != nil {
					return err
				}
				return failed
			})
			if !errors.Is(err, failed) {
				return errors.New("the failure was not returned")
			}
			return nil
		}, []string{"a", "a-inner", "b", "b-inner"}},
		{"a refused statement in a shared savepoint", func(tx memory.Tx) error {
			if err := insert(tx, "taken"); err != nil {
				return err
			}
			return tx.Savepoint(ctx, func(tx memory.Tx) error {
				// A unique violation aborts a PostgreSQL transaction; the
				// rollback to the shared savepoint must recover it.
				if err := tx.Savepoint(ctx, inserting("taken")); err == nil {
					return errors.New("a duplicate was inserted")
				}
				return insert(tx, "fine")
			})
		}, []string{"fine", "taken"}},
	} {
		for _, st := range memtest.Stores(t) {
			t.Run(tc.name+"/"+st.Name, func(t *testing.T) {
				if err := memory.Tamper(st.Store, "CREATE TABLE sp_rows (v TEXT PRIMARY KEY)"); err != nil {
					t.Fatal(err)
				}
				if err := memory.WriteTx(ctx, st.Store, tc.run); err != nil {
					t.Fatal(err)
				}
				var got []string
				err := memory.WriteTx(ctx, st.Store, func(tx memory.Tx) error {
					got = nil
					return tx.Scan(&got, "SELECT v FROM sp_rows ORDER BY v")
				})
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(got)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("rows %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// A writer that swallows a failed statement and returns nil: on
// PostgreSQL the transaction is aborted then, and its savepoint's release
// fails at once, undoing that writer alone; the writers around it go on.
// When a failure was met where the store could not see it (reading rows),
// the transaction fails as a whole: nothing of it commits, rather than
// rows of a writer that was told it failed.
func TestSavepointSwallowedErrors(t *testing.T) {
	ctx := context.Background()
	insert := func(tx memory.Tx, v string) error {
		return tx.Exec("INSERT INTO sp_rows (v) VALUES (?)", v)
	}
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			if err := memory.Tamper(st.Store, "CREATE TABLE sp_rows (v TEXT PRIMARY KEY)"); err != nil {
				t.Fatal(err)
			}
			if err := memory.Tamper(st.Store, "INSERT INTO sp_rows (v) VALUES ('taken')"); err != nil {
				t.Fatal(err)
			}
			err := memory.WriteTx(ctx, st.Store, func(tx memory.Tx) error {
				return tx.Savepoint(ctx, func(tx memory.Tx) error { // a group's write
					if err := insert(tx, "g"); err != nil {
						return err
					}
					_ = tx.Savepoint(ctx, func(tx memory.Tx) error { // a nested write that goes on
						if err := insert(tx, "p"); err != nil {
							return err
						}
						_ = tx.Savepoint(ctx, func(tx memory.Tx) error {
							_ = insert(tx, "taken") // refused, and the refusal swallowed
							return nil
						})
						return insert(tx, "p2")
					})
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"g", "p", "p2", "taken"}
			if got := rows(t, st.Store); !slices.Equal(got, want) {
				t.Fatalf("rows %q, want %q", got, want)
			}
			if st.Name != "postgres" {
				return // SQLite divides by zero into NULL: no error to hide
			}
			err = memory.WriteTx(ctx, st.Store, func(tx memory.Tx) error {
				return tx.Savepoint(ctx, func(tx memory.Tx) error {
					if err := insert(tx, "h"); err != nil {
						return err
					}
					_ = tx.Savepoint(ctx, func(tx memory.Tx) error {
						if err := insert(tx, "q"); err != nil {
							return err
						}
						_ = tx.Savepoint(ctx, func(tx memory.Tx) error {
							// The second row fails, after the first arrived.
							var n []int
							_ = tx.Scan(&n, "SELECT 1 / (v - 1) FROM generate_series(0, 2) AS v")
							return nil
						})
						return insert(tx, "q2")
					})
					return nil
				})
			})
			if err == nil {
				t.Fatal("a transaction whose savepoint could not be released committed")
			}
			if got := rows(t, st.Store); !slices.Equal(got, want) {
				t.Fatalf("rows %q after the failed transaction, want %q", got, want)
			}
		})
	}
}

func rows(t *testing.T, s *memory.Store) []string {
	t.Helper()
	var got []string
	if err := memory.WriteTx(context.Background(), s, func(tx memory.Tx) error {
		got = nil
		return tx.Scan(&got, "SELECT v FROM sp_rows ORDER BY v")
	}); err != nil {
		t.Fatal(err)
	}
	return got
}
