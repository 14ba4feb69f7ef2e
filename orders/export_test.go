package orders

import "time"

// ForgetGenesis makes order id one placed at created before orders
// recorded their chain's genesis, as an upgraded database holds them.
func ForgetGenesis(m *MemStore, id int64, created time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orders[id]
	o.Genesis, o.CreatedAt = "", created
	m.orders[id] = o
}
