package cluster_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/cluster"
)

// TestREADMEShowsTheVCLTheTestsRun: README's "Deploying at scale" shows
// shield.vcl as it is, so what users copy is what was tested.
func TestREADMEShowsTheVCLTheTestsRun(t *testing.T) {
	dir := cluster.Dir(t)
	vcl, err := os.ReadFile(filepath.Join(dir, "shield.vcl"))
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(dir, "..", "..", "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(readme), "```vcl\n"+string(vcl)+"```", "README.md's VCL differs from testdata/cluster/shield.vcl")
}
