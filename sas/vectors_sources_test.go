package sas

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outsideTheProject matches what only the machine a vector was written on
// could resolve: absolute paths of a home or work folder, a way up out of
// the repository, notes that are not part of it.
var outsideTheProject = regexp.MustCompile(`(^|[\s"'(])/(work|root|home|Users|tmp)/|\.\./|PRODUCT\.md|SAS_NOTES\.md|STYLE\.md`)

// TestVectorFilesCiteOnlyPublicSources: a reader of the project can follow
// every source a known-answer vector cites; none is a file outside it.
func TestVectorFilesCiteOnlyPublicSources(t *testing.T) {
	files, err := filepath.Glob("testdata/vectors/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Empty(t, outsideTheProject.FindAllString(string(data), -1), "%s cites something outside the project", file)
	}
}
