package sas

import (
	"strings"
	"testing"
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
		if err != nil {
			t.Errorf("ParsePermissions(%s, %q): %v", tt.r, tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParsePermissions(%s, %q).String() = %q, want %q", tt.r, tt.in, got, tt.want)
		}
	}
	ap, err := ParseAccountPermissions("itfpucalyxdwr")
	if err != nil || ap.String() != "rwdxylacupfti" {
		t.Errorf("account permissions %q, %v; want rwdxylacupfti", ap, err)
	}
	ss, _ := ParseServices("tqfb")
	srt, _ := ParseResourceTypes("ocs")
	if ss.String() != "bfqt" || srt.String() != "sco" {
		t.Errorf("services %q resource types %q", ss, srt)
	}
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
		{ResourceBlob, "R", "'R' is not valid"},
		{ResourceBlob, "r w", "' ' is not valid"},
		{ResourceBlob, "ré", "is not valid"},
		{Resource("z"), "r", `signed resource (sr) "z" is not one of b, c, bs, bv, d`},
	}
	for _, tt := range tests {
		_, err := ParsePermissions(tt.r, tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePermissions(%s, %q) = %v, want %q", tt.r, tt.in, err, tt.want)
		}
	}
	if _, err := ParseAccountPermissions("rm"); err == nil {
		t.Error("account permissions took 'm'")
	}
	if _, err := ParseServices("bx"); err == nil {
		t.Error("services took 'x'")
	}
	if _, err := ParseResourceTypes("sco "); err == nil {
		t.Error("resource types took ' '")
	}
}

func TestReadOnly(t *testing.T) {
	for in, want := range map[string]bool{"r": true, "rl": true, "l": true, "rw": false, "rc": false, "rt": false} {
		p, err := ParsePermissions(ResourceContainer, in)
		if err != nil {
			t.Fatal(err)
		}
		if p.ReadOnly() != want {
			t.Errorf("%q read-only %v, want %v", in, p.ReadOnly(), want)
		}
	}
}
