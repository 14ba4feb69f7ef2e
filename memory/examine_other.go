//go:build !unix

package memory

// noRoom has no way to look at free space or file size limits here.
func noRoom(dir, path string) string { return "" }
