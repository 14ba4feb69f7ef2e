package memory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Examine says what is wrong with the database dsn names, given err, an
// error a store returned. It returns Fault(err), except that it looks at a
// SQLite database's files when SQLite could say only that a read or write
// failed (ErrIO): a file this process may not write makes it ErrReadOnly,
// and a file system with no space left, or a file size limit the database
// has reached, makes it ErrFull. found says what was seen ("" when nothing
// more was). Nothing is written in looking.
func Examine(dsn string, err error) (fault error, found string) {
	fault = Fault(err)
	if fault != ErrIO {
		return fault, ""
	}
	t, perr := parseDSN(dsn)
	if perr != nil || t.backend != backendSQLite || t.path == memoryPath {
		return fault, ""
	}
	for _, p := range []string{t.path, t.path + "-journal"} {
		f, oerr := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(oerr, os.ErrNotExist) {
			continue
		}
		if oerr != nil {
			if ff := fileFault(oerr); ff == ErrReadOnly || ff == ErrFull {
				return ff, oerr.Error()
			}
			continue
		}
		f.Close()
	}
	if why := noRoom(filepath.Dir(t.path), t.path); why != "" {
		return ErrFull, why
	}
	return fault, ""
}

// sizeOf is the size of the file at path, or 0.
func sizeOf(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func bytesText(n uint64) string { return fmt.Sprintf("%d bytes", n) }
