package cosigner_test

import (
	"testing"

	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/cosigner/cosignertest"
)

func TestMemStore(t *testing.T) { cosignertest.RunStore(t, cosigner.NewMemStore()) }
