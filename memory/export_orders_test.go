package memory

import "time"

// ForgetOrderGenesis makes order id one placed at created before orders
// recorded their chain's genesis, as a database upgraded from schema 5
// holds them.
func ForgetOrderGenesis(s *Store, id int64, created time.Time) error {
	return s.db.Exec("UPDATE orders SET genesis = '', created_at_ns = ? WHERE id = ?", created.UnixNano(), id).Error
}
