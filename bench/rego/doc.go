// Package rego benchmarks Mandate's policy engine against the same policy
// written in Rego and evaluated by OPA. It is a separate module so the main
// module never depends on OPA.
package rego
