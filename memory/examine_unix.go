//go:build unix

package memory

import "syscall"

// noRoom says why dir, holding the database at path, takes no more data:
// a file system without a free block, or a file size limit (ulimit -f) the
// database or its journal has reached. "" when neither.
func noRoom(dir, path string) string {
	var fs syscall.Statfs_t
	if syscall.Statfs(dir, &fs) == nil && fs.Bavail == 0 {
		return "no space is left on the file system holding " + dir
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim) == nil {
		size := max(sizeOf(path), sizeOf(path+"-journal"))
		if uint64(size) >= uint64(lim.Cur) { // never with no limit (RLIM_INFINITY)
			return "this process may not write a file beyond " + bytesText(uint64(lim.Cur)) + " (its file size limit, ulimit -f)"
		}
	}
	return ""
}
