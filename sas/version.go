package sas

import (
	"fmt"
	"slices"
)

// Service versions with a meaning for signing.
const (
	// VersionLegacy is the SAS format before signed versions existed. A token
	// of this version carries no sv parameter; it signs sp, st, se, the
	// canonicalized resource and si only.
	VersionLegacy = "2009-09-19"

	// VersionLatest is the newest version this package signs, the one the
	// Azure SDK for Go signs by default.
	VersionLatest = "2026-12-06"

	// DefaultVersion is signed when no version is given: the newest that both
	// Azure and the Azurite emulator (3.37, whose newest is 2026-06-06) accept
	// as x-ms-version, so one token and one x-ms-version header work against
	// either. Its string-to-sign is the 2020-12-06 layout.
	DefaultVersion = "2026-06-06"
)

// knownVersions lists every Azure Storage service version, oldest first. A
// version outside this list is refused rather than signed with a guessed
// layout.
var knownVersions = []string{
	VersionLegacy,
	"2012-02-12",
	"2013-08-15",
	"2014-02-14",
	"2015-02-21",
	"2015-04-05",
	"2015-07-08",
	"2015-12-11",
	"2016-05-31",
	"2017-04-17",
	"2017-07-29",
	"2017-11-09",
	"2018-03-28",
	"2018-11-09",
	"2019-02-02",
	"2019-07-07",
	"2019-10-10",
	"2019-12-12",
	"2020-02-10",
	"2020-04-08",
	"2020-06-12",
	"2020-08-04",
	"2020-10-02",
	"2020-12-06",
	"2021-02-12",
	"2021-04-10",
	"2021-06-08",
	"2021-08-06",
	"2021-10-04",
	"2021-12-02",
	"2022-11-02",
	"2023-01-03",
	"2023-05-03",
	"2023-08-03",
	"2023-11-03",
	"2024-02-04",
	"2024-05-04",
	"2024-08-04",
	"2024-11-04",
	"2025-01-05",
	"2025-05-05",
	"2025-07-05",
	"2025-11-05",
	"2026-02-06",
	"2026-04-06",
	"2026-06-06",
	"2026-10-06",
	VersionLatest,
}

// KnownVersions returns the service versions this package can sign, oldest
// first.
func KnownVersions() []string { return slices.Clone(knownVersions) }

// layout is a family of versions that share one service SAS string-to-sign.
type layout uint8

const (
	layout2009 layout = iota // sp st se cr si
	layout2012               // + sv
	layout2013               // + rscc rscd rsce rscl rsct
	layout2015               // + sip spr (before sv)
	layout2018               // + sr, snapshot time (after sv)
	layout2020               // + ses (after snapshot time)
)

// versionInfo is what signing needs to know about one version.
type versionInfo struct {
	version string
	layout  layout
	// blobPrefix: the canonicalized resource starts with /blob/ (2015-02-21+).
	blobPrefix bool
	// accountSAS: account SAS exists (2015-04-05+).
	accountSAS bool
	// A user-delegation SAS signs saoid, suoid and scid (2020-02-10+),
	// skdutid and sduoid (2025-07-05+), and srh and srq (2026-04-06+).
	delegationAgents, delegatedTenant, signedRequestFields bool
}

// versionInfos holds the rules of each known version, worked out once. A map
// lookup costs a third of a binary search over the sorted list, and this
// runs on every signing.
var versionInfos = func() map[string]versionInfo {
	infos := make(map[string]versionInfo, len(knownVersions))
	for _, v := range knownVersions {
		infos[v] = describeVersion(v)
	}
	return infos
}()

// The versions nearly every signing uses, resolved without hashing.
var (
	defaultVersionInfo = describeVersion(DefaultVersion)
	latestVersionInfo  = describeVersion(VersionLatest)
)

// lookupVersion maps a version to its signing rules.
func lookupVersion(v string) (versionInfo, error) {
	switch v {
	case DefaultVersion:
		return defaultVersionInfo, nil
	case VersionLatest:
		return latestVersionInfo, nil
	}
	info, found := versionInfos[v]
	if !found {
		if v == "" {
			return versionInfo{}, fmt.Errorf("signed version is empty")
		}
		return versionInfo{}, fmt.Errorf("signed version is not a known Azure Storage service version (oldest %s, newest %s)",
			knownVersions[0], knownVersions[len(knownVersions)-1])
	}
	return info, nil
}

// signedVersion maps the version of values to sign to its rules; empty
// means DefaultVersion.
func signedVersion(v string) (versionInfo, error) {
	if v == "" {
		return defaultVersionInfo, nil
	}
	return lookupVersion(v)
}

// describeVersion works out the rules of a known version. Dates compare as
// strings because they are all YYYY-MM-DD.
func describeVersion(v string) versionInfo {
	info := versionInfo{version: v, blobPrefix: v >= "2015-02-21", accountSAS: v >= "2015-04-05",
		delegationAgents: v >= "2020-02-10", delegatedTenant: v >= "2025-07-05", signedRequestFields: v >= "2026-04-06"}
	switch {
	case v >= "2020-12-06":
		info.layout = layout2020
	case v >= "2018-11-09":
		info.layout = layout2018
	case v >= "2015-04-05":
		info.layout = layout2015
	case v >= "2013-08-15":
		info.layout = layout2013
	case v >= "2012-02-12":
		info.layout = layout2012
	default:
		info.layout = layout2009
	}
	return info
}

// signsVersion reports whether sv is sent and signed (2012-02-12 on).
func (i versionInfo) signsVersion() bool { return i.layout >= layout2012 }
