package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Pins keeps what the owner approved of each external tool.
type Pins interface {
	Pinned(server, tool string) (Pin, bool, error)
	Pin(server, tool string, p Pin) error
}

// MemPins keeps pins in memory, for one process.
type MemPins struct {
	mu sync.Mutex
	m  map[string]Pin
}

// NewMemPins returns empty pins.
func NewMemPins() *MemPins { return &MemPins{m: map[string]Pin{}} }

func (p *MemPins) Pinned(server, tool string) (Pin, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[server+"/"+tool]
	return v, ok, nil
}

func (p *MemPins) Pin(server, tool string, v Pin) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[server+"/"+tool] = v
	return nil
}

// FilePins keeps pins in a JSON file, so an approval outlives the process.
// Processes sharing the file should not approve at the same moment: the
// last write wins.
type FilePins struct {
	path string
	mu   sync.Mutex
}

// NewFilePins keeps pins at path (created on the first pin).
func NewFilePins(path string) *FilePins { return &FilePins{path: path} }

func (p *FilePins) load() (map[string]Pin, error) {
	b, err := os.ReadFile(p.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Pin{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the MCP tool pins: %w", err)
	}
	m := map[string]Pin{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the MCP tool pins in %s: %w", p.path, err)
	}
	return m, nil
}

func (p *FilePins) Pinned(server, tool string) (Pin, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, err := p.load()
	if err != nil {
		return Pin{}, false, err
	}
	v, ok := m[server+"/"+tool]
	return v, ok, nil
}

func (p *FilePins) Pin(server, tool string, v Pin) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, err := p.load()
	if err != nil {
		return err
	}
	m[server+"/"+tool] = v
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return fmt.Errorf("the MCP tool pins: %w", err)
	}
	tmp := p.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("the MCP tool pins: %w", err)
	}
	return os.Rename(tmp, p.path)
}
