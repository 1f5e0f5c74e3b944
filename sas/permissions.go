package sas

import (
	"fmt"
	"strings"
)

// Canonical permission orders. Azure expects the letters of sp in this order;
// the service orders of blob and container are both subsequences of
// serviceOrder, so one order prints either.
const (
	blobLetters      = "racwdxyltmeopi"
	containerLetters = "racwdxltfmeopi"
	directoryLetters = "racwdlmeop"
	serviceOrder     = "racwdxyltfmeopi"
	accountLetters   = "rwdxylacupfti"
)

// Permissions is the set of letters of a service SAS's sp field, one bit per
// letter. Parse it with ParsePermissions; String prints it in Azure's
// canonical order.
type Permissions uint32

// Service SAS permissions.
const (
	PermRead                  = Permissions(1 << ('r' - 'a')) // r: read content, properties, metadata
	PermAdd                   = Permissions(1 << ('a' - 'a')) // a: add a block to an append blob
	PermCreate                = Permissions(1 << ('c' - 'a')) // c: write a new blob
	PermWrite                 = Permissions(1 << ('w' - 'a')) // w: write content, properties, metadata
	PermDelete                = Permissions(1 << ('d' - 'a')) // d: delete
	PermDeleteVersion         = Permissions(1 << ('x' - 'a')) // x: delete a version
	PermPermanentDelete       = Permissions(1 << ('y' - 'a')) // y: permanently delete a snapshot or version
	PermList                  = Permissions(1 << ('l' - 'a')) // l: list blobs
	PermTags                  = Permissions(1 << ('t' - 'a')) // t: read and write blob tags
	PermFind                  = Permissions(1 << ('f' - 'a')) // f: find blobs by tags
	PermMove                  = Permissions(1 << ('m' - 'a')) // m: move (hierarchical namespace)
	PermExecute               = Permissions(1 << ('e' - 'a')) // e: execute (hierarchical namespace)
	PermOwnership             = Permissions(1 << ('o' - 'a')) // o: set owner (hierarchical namespace)
	PermPermissions           = Permissions(1 << ('p' - 'a')) // p: set permissions (hierarchical namespace)
	PermSetImmutabilityPolicy = Permissions(1 << ('i' - 'a')) // i: set or delete an immutability policy
)

// ParsePermissions parses the sp letters of a service SAS for a resource
// type, in any order. Unknown letters, letters the resource does not take and
// repeated letters are errors.
func ParsePermissions(r Resource, s string) (Permissions, error) {
	allowed, _, err := r.permissions()
	if err != nil {
		return 0, err
	}
	bits, err := parseLetters(s, allowed, r.describe()+" SAS permissions (sp)")
	return Permissions(bits), err
}

// String returns the letters in Azure's canonical order, e.g. "racwd".
func (p Permissions) String() string { return string(p.appendTo(nil)) }

func (p Permissions) appendTo(dst []byte) []byte { return appendLetters(dst, uint32(p), serviceOrder) }

// Has reports whether every permission in q is granted.
func (p Permissions) Has(q Permissions) bool { return p&q == q }

// ReadOnly reports whether p grants nothing beyond read and list.
func (p Permissions) ReadOnly() bool { return p&^(PermRead|PermList) == 0 }

// AccountPermissions is the set of letters of an account SAS's sp field.
type AccountPermissions uint32

// Account SAS permissions.
const (
	AccountRead                  = AccountPermissions(1 << ('r' - 'a')) // r
	AccountWrite                 = AccountPermissions(1 << ('w' - 'a')) // w
	AccountDelete                = AccountPermissions(1 << ('d' - 'a')) // d
	AccountDeleteVersion         = AccountPermissions(1 << ('x' - 'a')) // x
	AccountPermanentDelete       = AccountPermissions(1 << ('y' - 'a')) // y
	AccountList                  = AccountPermissions(1 << ('l' - 'a')) // l
	AccountAdd                   = AccountPermissions(1 << ('a' - 'a')) // a
	AccountCreate                = AccountPermissions(1 << ('c' - 'a')) // c
	AccountUpdate                = AccountPermissions(1 << ('u' - 'a')) // u
	AccountProcess               = AccountPermissions(1 << ('p' - 'a')) // p
	AccountFilter                = AccountPermissions(1 << ('f' - 'a')) // f
	AccountTags                  = AccountPermissions(1 << ('t' - 'a')) // t
	AccountSetImmutabilityPolicy = AccountPermissions(1 << ('i' - 'a')) // i
)

// ParseAccountPermissions parses the sp letters of an account SAS.
func ParseAccountPermissions(s string) (AccountPermissions, error) {
	bits, err := parseLetters(s, accountLetters, "account SAS permissions (sp)")
	return AccountPermissions(bits), err
}

// String returns the letters in Azure's canonical account order.
func (p AccountPermissions) String() string { return string(p.appendTo(nil)) }

func (p AccountPermissions) appendTo(dst []byte) []byte {
	return appendLetters(dst, uint32(p), accountLetters)
}

// Has reports whether every permission in q is granted.
func (p AccountPermissions) Has(q AccountPermissions) bool { return p&q == q }

// ReadOnly reports whether p grants nothing beyond read and list.
func (p AccountPermissions) ReadOnly() bool { return p&^(AccountRead|AccountList) == 0 }

// Services is the ss field of an account SAS: which services it covers.
type Services uint32

// Account SAS services.
const (
	ServiceBlob  = Services(1 << ('b' - 'a')) // b
	ServiceFile  = Services(1 << ('f' - 'a')) // f
	ServiceQueue = Services(1 << ('q' - 'a')) // q
	ServiceTable = Services(1 << ('t' - 'a')) // t
)

const servicesLetters = "bfqt"

// ParseServices parses the ss letters of an account SAS.
func ParseServices(s string) (Services, error) {
	bits, err := parseLetters(s, servicesLetters, "account SAS services (ss)")
	return Services(bits), err
}

// String returns the letters in canonical order, e.g. "bf".
func (s Services) String() string { return string(appendLetters(nil, uint32(s), servicesLetters)) }

// ResourceTypes is the srt field of an account SAS: which levels of the
// service it covers.
type ResourceTypes uint32

// Account SAS resource types.
const (
	ResourceTypeService   = ResourceTypes(1 << ('s' - 'a')) // s: service-level APIs (list containers …)
	ResourceTypeContainer = ResourceTypes(1 << ('c' - 'a')) // c: container-level APIs
	ResourceTypeObject    = ResourceTypes(1 << ('o' - 'a')) // o: blob-level APIs
)

const resourceTypeLetters = "sco"

// ParseResourceTypes parses the srt letters of an account SAS.
func ParseResourceTypes(s string) (ResourceTypes, error) {
	bits, err := parseLetters(s, resourceTypeLetters, "account SAS resource types (srt)")
	return ResourceTypes(bits), err
}

// String returns the letters in canonical order, e.g. "sco".
func (t ResourceTypes) String() string {
	return string(appendLetters(nil, uint32(t), resourceTypeLetters))
}

// parseLetters turns a set of distinct letters from allowed into bits.
func parseLetters(s, allowed, what string) (uint32, error) {
	if s == "" {
		return 0, fmt.Errorf("%s is empty", what)
	}
	var bits uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 'a' || c > 'z' || strings.IndexByte(allowed, c) < 0 {
			return 0, fmt.Errorf("%q is not valid in %s: use letters from %q", rune(c), what, allowed)
		}
		bit := uint32(1) << (c - 'a')
		if bits&bit != 0 {
			return 0, fmt.Errorf("%q is given twice in %s", rune(c), what)
		}
		bits |= bit
	}
	return bits, nil
}

func appendLetters(dst []byte, bits uint32, order string) []byte {
	for i := 0; i < len(order); i++ {
		if bits&(1<<(order[i]-'a')) != 0 {
			dst = append(dst, order[i])
		}
	}
	return dst
}
