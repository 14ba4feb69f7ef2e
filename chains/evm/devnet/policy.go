package devnet

import (
	"bytes"
	_ "embed"
	"text/template"
)

//go:embed policy.yaml
var policyTemplate string

// Policy is the devnet's built-in policy (YAML, version 1): its tokens with
// modest limits, USD limits priced by its own pools, swaps bounded, the
// burn address denied. It is what a runtime on the devnet uses when no
// policy is configured, so a walk-through shows both an allowed transfer
// and a denial.
func (d *Deployment) Policy() ([]byte, error) {
	t, err := template.New("policy").Option("missingkey=error").Parse(policyTemplate)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, map[string]any{"C": d.Contracts, "ChainID": d.ChainID}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
