package memory

// Tamper runs a statement on s's database directly, as a person with
// database access would: the audit tests edit, delete and insert by hand.
func Tamper(s *Store, stmt string, args ...any) error {
	return s.db.Exec(stmt, args...).Error
}
