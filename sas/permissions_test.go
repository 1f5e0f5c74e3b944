package sas

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPermissionsPrintInCanonicalOrder(t *testing.T) {
	tests := []struct {
		r        Resource
		in, want string
	}{
		{ResourceBlob, "r", "r"},
		{ResourceBlob, "wr", "rw"},
		{ResourceBlob, "itpoemlyxdwcar", "racwdxyltmeopi"},
		{ResourceContainer, "lr", "rl"},
		{ResourceContainer, "ipoemfltxdwcar", "racwdxltfmeopi"},
		{ResourceSnapshot, "dr", "rd"},
		{ResourceDirectory, "plmoerwacd", "racwdlmeop"},
	}
	for _, tt := range tests {
		p, err := ParsePermissions(tt.r, tt.in)
		if assert.NoError(t, err, "ParsePermissions(%s, %q)", tt.r, tt.in) {
			assert.Equal(t, tt.want, p.String(), "ParsePermissions(%s, %q).String()", tt.r, tt.in)
		}
	}
	ap, err := ParseAccountPermissions("itfpucalyxdwr")
	require.NoError(t, err)
	assert.Equal(t, "rwdxylacupfti", ap.String(), "account permissions")
	ss, err := ParseServices("tqfb")
	require.NoError(t, err)
	assert.Equal(t, "bfqt", ss.String(), "services")
	srt, err := ParseResourceTypes("ocs")
	require.NoError(t, err)
	assert.Equal(t, "sco", srt.String(), "resource types")
}

func TestPermissionErrors(t *testing.T) {
	tests := []struct {
		r        Resource
		in, want string
	}{
		{ResourceBlob, "", "blob SAS permissions (sp) is empty"},
		{ResourceBlob, "rr", "'r' is given twice in blob SAS permissions"},
		{ResourceBlob, "rf", "'f' is not valid in blob SAS permissions (sp): use letters from \"racwdxyltmeopi\""},
		{ResourceContainer, "ry", "'y' is not valid in container SAS permissions"},
		{ResourceBlob, "R", "'R' is not valid in blob SAS permissions (sp)"},
		{ResourceBlob, "r w", "' ' is not valid in blob SAS permissions (sp)"},
		{ResourceBlob, "ré", "is not valid in blob SAS permissions (sp)"},
		{Resource("z"), "r", "signed resource (sr) is not one of b, c, bs, bv, d"},
	}
	for _, tt := range tests {
		p, err := ParsePermissions(tt.r, tt.in)
		assert.ErrorContains(t, err, tt.want, "ParsePermissions(%s, %q)", tt.r, tt.in)
		assert.Zero(t, p, "ParsePermissions(%s, %q) granted something with its error", tt.r, tt.in)
	}
	ap, err := ParseAccountPermissions("rm")
	assert.EqualError(t, err, `'m' is not valid in account SAS permissions (sp): use letters from "rwdxylacupfti"`, "account permissions took 'm'")
	assert.Zero(t, ap)
	ss, err := ParseServices("bx")
	assert.EqualError(t, err, `'x' is not valid in account SAS services (ss): use letters from "bfqt"`, "services took 'x'")
	assert.Zero(t, ss)
	srt, err := ParseResourceTypes("sco ")
	assert.EqualError(t, err, `' ' is not valid in account SAS resource types (srt): use letters from "sco"`, "resource types took ' '")
	assert.Zero(t, srt)
}

func TestReadOnly(t *testing.T) {
	for in, want := range map[string]bool{"r": true, "rl": true, "l": true, "rw": false, "rc": false, "rt": false} {
		p, err := ParsePermissions(ResourceContainer, in)
		require.NoError(t, err)
		assert.Equal(t, want, p.ReadOnly(), "%q read-only", in)
	}
}
