package cluster_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/cluster"
)

// TestDeployingDocShowsTheVCLTheTestsRun: docs/deploying.md's "Deploying at
// scale" shows shield.vcl as it is, so what users copy is what was tested.
func TestDeployingDocShowsTheVCLTheTestsRun(t *testing.T) {
	dir := cluster.Dir(t)
	vcl, err := os.ReadFile(filepath.Join(dir, "shield.vcl"))
	require.NoError(t, err)
	page, err := os.ReadFile(filepath.Join(dir, "..", "..", "docs", "deploying.md"))
	require.NoError(t, err)
	assert.Contains(t, string(page), "```vcl\n"+string(vcl)+"```", "docs/deploying.md's VCL differs from testdata/cluster/shield.vcl")
}
