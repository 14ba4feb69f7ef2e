package devnet

import (
	"bytes"
	_ "embed"
	"text/template"
)

//go:embed policy.yaml
var policyTemplate string

// Policy is the policy a runtime on this devnet uses when none is
// configured: its USDC mint, limits in SOL and USDC, and no USD limits (the
// devnet has no price source).
func (d Deployment) Policy() ([]byte, error) {
	t, err := template.New("policy").Option("missingkey=error").Parse(policyTemplate)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d.Mints); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
